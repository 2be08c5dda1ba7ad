using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Xml.Linq;
using FluentAssertions;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// SIGKILL at random moments: the real CLI process is killed while it exports (or replaces an export with --force, or
/// writes validate reports). Afterwards the destination either does not exist or is complete — every file the
/// manifest lists has the recorded size and sha256 and the model still reproduces the golden tokens.
/// </summary>
[Trait("Category", "Slow")]
public sealed class KillTests(ITestOutputHelper output)
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    private static string[] ExportArgs(string dest, bool force) =>
    [
        "export", "--arch", "deepencoder", "--checkpoint", Path.Combine(TinyDir, "model.safetensors"),
        "--config", Path.Combine(TinyDir, "fixture.json"), "--external-data", "always", "--out", dest, .. force ? new[] { "--force" } : [],
    ];

    /// <summary>Starts the CLI, kills it (SIGKILL) after <paramref name="delay"/> unless it finished; true when it was killed.</summary>
    private static bool RunAndKill(string[] args, TimeSpan delay)
    {
        using var p = Process.Start(Support.Cli.StartInfo(args))!;
        // Drain the pipes so a full pipe never blocks the child and skews where the kill lands.
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        bool exited = p.WaitForExit(delay);
        if (!exited) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return !exited;
    }

    private static TimeSpan Timed(string[] args)
    {
        var clock = Stopwatch.StartNew();
        var r = Support.Cli.Run(args);
        r.ExitCode.Should().Be(0, r.ToString());
        return clock.Elapsed;
    }

    /// <summary>Throws unless <paramref name="dest"/> is a complete, working export.</summary>
    private static void ShouldBeComplete(string dest, HostTensor input, HostTensor golden, string where)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dest, "manifest.json")));
        var files = manifest.RootElement.GetProperty("files").EnumerateArray().ToArray();
        files.Select(f => f.GetProperty("name").GetString()).Should().BeEquivalentTo(["model.onnx", "model.onnx.data"], where);
        foreach (var f in files)
        {
            string path = Path.Combine(dest, f.GetProperty("name").GetString()!);
            new FileInfo(path).Length.Should().Be(f.GetProperty("bytes").GetInt64(), where);
            using var s = File.OpenRead(path);
            Convert.ToHexStringLower(SHA256.HashData(s)).Should().Be(f.GetProperty("sha256").GetString(), where);
        }
        using var runner = new OrtRunner(Path.Combine(dest, "model.onnx"));
        var got = runner.Run(new Dictionary<string, HostTensor> { ["pixel_values"] = input }, ["global_view_tokens"])["global_view_tokens"];
        var cmp = TensorComparator.Compare("global_view_tokens", got, golden, new Tolerance(1e-4, 0));
        cmp.Passed.Should().BeTrue($"{where}: {cmp.Failure} (max abs {cmp.MaxAbs})");
    }

    [Fact]
    public void Killed_exports_leave_no_destination_or_a_complete_one()
    {
        HostTensor input, golden;
        using (var fixture = GoldenFixture.Load(TinyDir))
        {
            input = fixture.Cases[0].Inputs["pixel_values"];
            golden = fixture.Cases[0].Outputs["global_view_tokens"];
        }
        using var tmp = new TempDir();
        string dest = tmp.File("artifact");
        // The fastest of three: the first is slowed by cold caches, and kills timed past the real length would be wasted.
        var full = Enumerable.Range(0, 3).Select(_ => Timed(ExportArgs(dest, force: true))).Min();
        ShouldBeComplete(dest, input, golden, "uninterrupted export");
        output.WriteLine($"uninterrupted export (process start to exit): {full.TotalSeconds:F2} s");

        var random = new Random(20251124);
        int kills = 0, finished = 0, absent = 0, complete = 0, forced = 0;
        int runs = 0;
        // Until 30 runs were really killed (timing varies between machines, so a few runs may finish first); bounded.
        for (int i = 0; kills < 30 && i < 120; i++, runs++)
        {
            bool force = i % 3 == 2; // every third run replaces a complete export
            if (force && !Directory.Exists(dest)) Support.Cli.Run(ExportArgs(dest, force: false)).ExitCode.Should().Be(0);
            if (!force && Directory.Exists(dest)) Directory.Delete(dest, true);
            // Spread over the measured length of a whole run (late ones land at the rename or after it finished).
            var delay = TimeSpan.FromSeconds(random.NextDouble() * full.TotalSeconds * 0.9);
            bool killed = RunAndKill(ExportArgs(dest, force), delay);
            if (killed) kills++;
            else finished++;
            if (killed && force) forced++;
            string where = $"run {i} ({(force ? "--force over a complete export" : "fresh")}, {(killed ? "killed" : "finished")} at {delay.TotalSeconds:F2} s)";
            if (!Directory.Exists(dest))
            {
                killed.Should().BeTrue($"{where}: a finished export must exist");
                absent++;
                continue;
            }
            ShouldBeComplete(dest, input, golden, where);
            complete++;
        }
        var leftovers = Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Where(n => n != "artifact").ToArray();
        output.WriteLine($"kills {kills} ({forced} during --force replacement), runs that finished first {finished}; after each run: " +
            $"destination absent {absent}, complete {complete}, incomplete 0; stale siblings left now: [{string.Join(", ", leftovers)}]");
        kills.Should().BeGreaterThanOrEqualTo(30);
        (absent + complete).Should().Be(runs);
        leftovers.Where(n => !(n!.StartsWith("artifact.partial-") || n.StartsWith("artifact.replaced-"))).Should().BeEmpty("only the documented staging names");

        // The next export clears stale staging folders.
        Support.Cli.Run(ExportArgs(dest, force: true)).ExitCode.Should().Be(0);
        Directory.GetDirectories(tmp.Path, "artifact.partial-*").Should().BeEmpty();
    }

    [Fact]
    public void Reports_are_written_atomically_and_a_killed_validate_leaves_none_or_a_complete_one()
    {
        using var tmp = new TempDir();
        string artifact = tmp.File("artifact");
        Support.Cli.Run(ExportArgs(artifact, force: false)).ExitCode.Should().Be(0);
        string[] Args(string name) =>
        [
            "validate", "--fixture", TinyDir, "--onnx", Path.Combine(artifact, "model.onnx"), "--paths", "exported",
            "--report", tmp.File(name + ".json"), "--junit", tmp.File(name + ".xml"),
        ];
        Support.Cli.Run(Args("warm")).ExitCode.Should().Be(0); // the first run is slower (cold caches): measure the second
        var clock = Stopwatch.StartNew();
        var ok = Support.Cli.Run(Args("ok"));
        var full = clock.Elapsed;
        ok.ExitCode.Should().Be(0, ok.ToString());
        JsonDocument.Parse(File.ReadAllText(tmp.File("ok.json"))).RootElement.GetProperty("passed").GetBoolean().Should().BeTrue();
        XDocument.Load(tmp.File("ok.xml")).Root!.Name.LocalName.Should().Be("testsuites");
        Directory.GetFiles(tmp.Path, "*.partial-*").Should().BeEmpty("the temporary report files are renamed into place");

        var random = new Random(7);
        int kills = 0, none = 0, complete = 0;
        for (int i = 0; i < 10; i++)
        {
            // Reports are written at the very end, so most kills aim at the last fifth of the run.
            double at = i < 2 ? random.NextDouble() : 0.75 + 0.45 * random.NextDouble();
            if (RunAndKill(Args($"k{i}"), full * at)) kills++;
            foreach (string ext in new[] { ".json", ".xml" })
            {
                string path = tmp.File($"k{i}{ext}");
                if (!File.Exists(path))
                {
                    none++;
                    continue;
                }
                if (ext == ".json") JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cases").GetArrayLength().Should().Be(4);
                else XDocument.Load(path).Root!.Elements("testsuite").Should().HaveCount(4);
                complete++;
            }
        }
        output.WriteLine($"validate ({full.TotalSeconds:F2} s uninterrupted): {kills} kills; reports absent {none}, complete {complete}, partial 0");
        kills.Should().BeGreaterThanOrEqualTo(3);
    }
}
