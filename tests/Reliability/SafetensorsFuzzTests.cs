using System.Diagnostics;
using CsCheck;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Hostile safetensors files: every generated one either opens (and then every tensor reads as f32) or is refused
/// with the reader's own <see cref="CheckpointFormatException"/> naming the file; nothing else escapes, nothing hangs,
/// and opening never allocates more than a small bound whatever the header claims.
/// </summary>
/// <remarks>
/// Cases come from CsCheck generators driven by one fixed PCG stream (not Check.Sample, whose later iterations use
/// fresh random seeds), so a run is exactly reproducible and a failure names the case index to replay.
/// </remarks>
[Trait("Category", "Slow")]
public sealed class SafetensorsFuzzTests(ITestOutputHelper output)
{
    /// <summary>Opening may allocate the header and the parsed entries, never anything sized by what the header claims.</summary>
    private const long AllocationBound = 64L << 20;

    /// <summary>Kind prefixes the tally groups by (the generated kinds carry details such as the nesting depth).</summary>
    private static readonly string[] Groups = ["nesting", "unknown dtype", "bad shape", "bad data_offsets", "duplicate"];

    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(120);

    /// <summary>Outcome tally of one fuzz run.</summary>
    private sealed class Tally
    {
        public int Cases, Refused, Opened;
        public long MaxAllocated;
        public double MaxSeconds;
        public readonly Dictionary<string, int> ByKind = [];

        public override string ToString() =>
            $"{Cases} cases: {Refused} refused with CheckpointFormatException, {Opened} opened and read in full; " +
            $"max allocation during Open {MaxAllocated / 1024.0:F0} KiB, slowest case {MaxSeconds * 1000:F1} ms";
    }

    [Fact]
    public void Ten_thousand_generated_malformed_files_are_refused_cleanly()
    {
        using var dir = new TempDir();
        var tally = new Tally();
        var pcg = new PCG(1, 20251124);
        RunGuarded(tally, () =>
        {
            for (int i = 0; i < 10_500; i++)
            {
                var c = MalformedSafetensors.Any.Generate(pcg, null!, out _);
                string path = dir.File($"case{i % 4}.safetensors"); // a few reused names keep the file system quiet
                File.WriteAllBytes(path, c.Bytes);
                Check(tally, i, c.Kind, path, c.Limits, c.MayOpen, c.MustSay, c.ToString);
            }
        });
        Counts.WriteLine(output, "generated files: " + tally);
        Counts.WriteLine(output, "by kind: " + string.Join(", ", tally.ByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        tally.Cases.Should().BeGreaterThanOrEqualTo(10_000);
        tally.ByKind.Keys.Should().HaveCountGreaterThanOrEqualTo(12, "every kind of defect is generated");
    }

    [Fact]
    public void Byte_mutations_of_the_real_fixture_checkpoints_never_escape_the_reader()
    {
        using var dir = new TempDir();
        var tally = new Tally();
        var pcg = new PCG(2, 20251124);
        var originals = Directory.GetDirectories(Repo.Fixture("golden"))
            .Select(d => Path.Combine(d, "model.safetensors")).Where(File.Exists).Order(StringComparer.Ordinal)
            .Select(f => File.ReadAllBytes(f)).ToArray();
        originals.Should().HaveCountGreaterThanOrEqualTo(4);
        RunGuarded(tally, () =>
        {
            for (int i = 0; i < 2_000; i++)
            {
                var original = originals[i % originals.Length];
                int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
                var m = MalformedSafetensors.ByteMutation(headerEnd).Generate(pcg, null!, out _);
                string path = dir.File($"mutant{i % 4}.safetensors");
                File.WriteAllBytes(path, MalformedSafetensors.Mutate(original, m));
                string kind = m.Op switch { 0 => "bit flip", 1 => "byte set", 2 => "insert", 3 => "delete", _ => "truncate" };
                Check(tally, i, kind, path, SafetensorsLimits.Default, mayOpen: true, mustSay: null,
                    () => $"fixture {i % originals.Length}, mutation {m}");
            }
        });
        Counts.WriteLine(output, "fixture mutations: " + tally);
        Counts.WriteLine(output, "by kind: " + string.Join(", ", tally.ByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        tally.Cases.Should().Be(2_000);
        tally.Refused.Should().BeGreaterThan(1_000, "most header damage must be detected");
    }

    [Fact]
    public void Sharded_indexes_naming_shards_outside_the_folder_or_missing_are_refused()
    {
        using var root = new TempDir();
        string folder = Directory.CreateDirectory(root.File("ckpt")).FullName;
        string outside = Directory.CreateDirectory(root.File("elsewhere")).FullName;
        byte[] shard = MalformedSafetensors.File("{" + MalformedSafetensors.Entry("w", "\"F32\"", "[2]", "[0,8]") + "}", 8, 7);
        File.WriteAllBytes(Path.Combine(folder, "inside.safetensors"), shard);
        File.WriteAllBytes(Path.Combine(outside, "outside.safetensors"), shard);
        File.CreateSymbolicLink(Path.Combine(folder, "link.safetensors"), Path.Combine(outside, "outside.safetensors"));
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        File.WriteAllBytes(Path.Combine(folder, "sub", "inside.safetensors"), shard);
        string index = Path.Combine(folder, "model.safetensors.index.json");

        // (shard name as JSON, fragment the refusal must contain); null fragment: the name is fine.
        (string Shard, string? Says)[] names =
        [
            ("\"../elsewhere/outside.safetensors\"", "escape"), ($"\"{Path.Combine(outside, "outside.safetensors")}\"", "escape"),
            ("\"sub/inside.safetensors\"", "escape"), ("\"..\\\\elsewhere\\\\outside.safetensors\"", "escape"), ("\"..\"", "escape"),
            ("\".\"", "escape"), ("\"\"", "escape"), ("\"inside.safetensors\\u0000\"", "escape"), ("\"missing.safetensors\"", "missing"),
            ("\"link.safetensors\"", "outside the index's folder"), ("\"inside.safetensors\"", null), ("17", "not a shard file name"),
        ];
        var gen = Gen.Select(Gen.Int[0, names.Length - 1], Gen.Int[0, 3],
            Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Char["{}[]\":,./\\0 "]).Array[1, 3]);
        var pcg = new PCG(3, 20251124);
        int cases = 0, refused = 0, opened = 0;
        for (int i = 0; i < 600; i++)
        {
            var (pick, shape, edits) = gen.Generate(pcg, null!, out _);
            var (name, says) = names[pick];
            string json = shape switch
            {
                0 => $"{{\"metadata\":{{\"total_size\":8}},\"weight_map\":{{\"w\":{name}}}}}",
                1 => $"{{\"weight_map\":{{\"v\":\"inside.safetensors\",\"w\":{name}}}}}", // two tensors, the second on the bad shard
                2 => $"{{\"weight_map\":{{\"w\":{name}}},\"metadata\":[[[[{{}}]]]]}}",
                _ => MalformedSafetensors.Edit($"{{\"weight_map\":{{\"w\":{name}}}}}", edits), // may stay valid
            };
            File.WriteAllText(index, json);
            cases++;
            string where = $"case {i}: {json}";
            try
            {
                using var c = Checkpoint.Open(index);
                (shape == 3 || (says is null && shape != 1)).Should().BeTrue("only a valid index may open: " + where);
                c.ReadAsFloat32("w").Should().HaveCount(2, where);
                opened++;
            }
            catch (CheckpointFormatException e)
            {
                e.Message.Should().StartWith(index + ": ", where);
                if (shape != 3 && says is not null) e.Message.Should().Contain(says, where);
                refused++;
            }
        }
        Counts.WriteLine(output, $"sharded indexes: {cases} cases, {refused} refused with CheckpointFormatException, {opened} opened");
        File.Exists(Path.Combine(outside, "outside.safetensors")).Should().BeTrue();
        refused.Should().BeGreaterThan(400);
    }

    /// <summary>Runs the loop on a worker so a hang fails the test (naming the last case) instead of stalling the run.</summary>
    private static void RunGuarded(Tally tally, Action loop)
    {
        var task = Task.Factory.StartNew(loop, TaskCreationOptions.LongRunning);
        if (!task.Wait(Watchdog))
            throw new TimeoutException($"fuzz loop still running after {Watchdog}; last case started: {tally.Cases}");
    }

    /// <summary>Opens one file and checks the outcome; the allocation is measured on this thread around Open alone.</summary>
    private static void Check(Tally tally, int index, string kind, string path, SafetensorsLimits limits, bool mayOpen, string? mustSay,
        Func<string> describe)
    {
        tally.Cases++;
        string group = Groups.FirstOrDefault(kind.StartsWith) ?? kind;
        tally.ByKind[group] = tally.ByKind.GetValueOrDefault(group) + 1;
        var clock = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        SafetensorsFile? file = null;
        Exception? error = null;
        try
        {
            file = SafetensorsFile.Open(path, limits);
        }
        catch (Exception e)
        {
            error = e;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        tally.MaxAllocated = Math.Max(tally.MaxAllocated, allocated);
        string where = $"case {index} [{kind}]: {describe()}";
        allocated.Should().BeLessThan(AllocationBound, where);
        if (error is not null)
        {
            error.Should().BeOfType<CheckpointFormatException>(where + "\n" + error);
            error.Message.Should().StartWith(path + ": ", where);
            error.Message.Should().NotContainAny(["\n", "\r"], where);
            if (mustSay is not null) error.Message.Should().Contain(mustSay, where);
            tally.Refused++;
        }
        else
        {
            using (file)
            {
                mayOpen.Should().BeTrue($"a malformed file was accepted: {where}");
                // Accepted means usable: every tensor converts, within the bytes the header validated.
                foreach (var t in file!.Tensors) file.ReadAsFloat32(t.Name).Length.Should().Be((int)t.ElementCount, where);
            }
            tally.Opened++;
        }
        tally.MaxSeconds = Math.Max(tally.MaxSeconds, clock.Elapsed.TotalSeconds);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5), "one case must not take long: " + where);
    }
}
