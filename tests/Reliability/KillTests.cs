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

    /// <summary>
    /// The child's environment: its own TMPDIR (checked empty at the end) and no runtime diagnostics IPC files
    /// (clr-debug-pipe-*, dotnet-diagnostic-*), which a SIGKILLed runtime would otherwise leave in TMPDIR.
    /// </summary>
    private static ProcessStartInfo StartInfo(string[] args, string tmpdir)
    {
        var psi = Support.Cli.StartInfo(args);
        psi.Environment["TMPDIR"] = tmpdir;
        psi.Environment["DOTNET_EnableDiagnostics"] = "0";
        psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        return psi;
    }

    /// <summary>
    /// An uninterrupted run, timing the child's own progress lines: for each marker, when its first line appeared, plus
    /// the exit. Kill points are placed inside these phases, so they follow the process rather than one timed run.
    /// </summary>
    private static List<(string Marker, TimeSpan At)> Phases(string[] args, string tmpdir, string[] markers)
    {
        using var p = Process.Start(StartInfo(args, tmpdir))!;
        var clock = Stopwatch.StartNew();
        _ = p.StandardError.ReadToEndAsync();
        var seen = new List<(string Marker, TimeSpan At)> { ("start", TimeSpan.Zero) };
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
            foreach (var m in markers)
                if (line.Contains(m, StringComparison.Ordinal) && seen.All(s => s.Marker != m)) seen.Add((m, clock.Elapsed));
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(0);
        seen.Add(("exit", clock.Elapsed));
        return seen;
    }

    /// <summary>
    /// Starts the CLI; when its stdout shows <paramref name="trigger"/> ("start" = at once), waits <paramref name="delay"/>
    /// and SIGKILLs it unless it finished. True when it was killed. Every wait is bounded.
    /// </summary>
    private static bool RunAndKill(string[] args, string tmpdir, string trigger, TimeSpan delay)
    {
        using var p = Process.Start(StartInfo(args, tmpdir))!;
        _ = p.StandardError.ReadToEndAsync();
        using var seen = new ManualResetEventSlim(trigger == "start");
        var reader = Task.Run(() =>
        {
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
                if (line.Contains(trigger, StringComparison.Ordinal)) seen.Set();
            seen.Set(); // exited before the trigger
        });
        seen.Wait(TimeSpan.FromMinutes(2)).Should().BeTrue("the child prints its progress");
        bool exited = p.WaitForExit(delay);
        if (!exited) p.Kill(entireProcessTree: true);
        p.WaitForExit(60_000).Should().BeTrue();
        reader.Wait(TimeSpan.FromSeconds(30));
        return !exited;
    }

    /// <summary>A kill point: a phase (chosen round-robin) and a delay spread over that phase's measured length.</summary>
    private static (string Trigger, TimeSpan Delay) KillPoint(List<(string Marker, TimeSpan At)> phases, int i, Random random)
    {
        int k = i % (phases.Count - 1);
        var length = phases[k + 1].At - phases[k].At;
        return (phases[k].Marker, length * random.NextDouble() * 1.1);
    }

    private static CliResult RunQuiet(string[] args, string tmpdir)
    {
        using var p = Process.Start(StartInfo(args, tmpdir))!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit(180_000).Should().BeTrue();
        return new CliResult(p.ExitCode, o.Result, e.Result);
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
        string tmpdir = tmp.File("tmpdir");
        Directory.CreateDirectory(tmpdir);
        RunQuiet(ExportArgs(dest, force: true), tmpdir).ExitCode.Should().Be(0); // warm caches
        var phases = Phases(ExportArgs(dest, force: true), tmpdir, ["built", "writing", "parameters read"]);
        ShouldBeComplete(dest, input, golden, "uninterrupted export");
        Counts.WriteLine(output, "export phases from its progress lines: "
            + string.Join(", ", phases.Select(p => $"{p.Marker} {p.At.TotalSeconds:F2} s")));

        var random = new Random(20251124);
        int kills = 0, finished = 0, absent = 0, complete = 0, forced = 0;
        int runs = 0;
        // Until 30 runs were really killed (a kill point late in the last phase may come after the exit); bounded.
        for (int i = 0; kills < 30 && i < 120; i++, runs++)
        {
            bool force = i % 3 == 2; // every third run replaces a complete export
            if (force && !Directory.Exists(dest)) RunQuiet(ExportArgs(dest, force: false), tmpdir).ExitCode.Should().Be(0);
            if (!force && Directory.Exists(dest)) Directory.Delete(dest, true);
            var (trigger, delay) = KillPoint(phases, i, random);
            bool killed = RunAndKill(ExportArgs(dest, force), tmpdir, trigger, delay);
            if (killed) kills++;
            else finished++;
            if (killed && force) forced++;
            string where = $"run {i} ({(force ? "--force over a complete export" : "fresh")}, {(killed ? "killed" : "finished")} " +
                $"{delay.TotalSeconds:F2} s after '{trigger}')";
            if (!Directory.Exists(dest))
            {
                killed.Should().BeTrue($"{where}: a finished export must exist");
                absent++;
                continue;
            }
            ShouldBeComplete(dest, input, golden, where);
            complete++;
        }
        var leftovers = Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Where(n => n is not ("artifact" or "tmpdir"))
            .ToArray();
        Counts.WriteLine(output, $"export: kills {kills} ({forced} during --force replacement), runs that finished first {finished}; " +
            $"after each run: destination absent {absent}, complete {complete}, incomplete 0; stale siblings left now: {leftovers.Length}");
        kills.Should().BeGreaterThanOrEqualTo(30);
        (absent + complete).Should().Be(runs);
        leftovers.Where(n => !(n!.StartsWith("artifact.partial-") || n.StartsWith("artifact.replaced-")))
            .Should().BeEmpty("only the documented staging names");

        // The next export clears stale staging folders and the killed runs' private temp folders.
        RunQuiet(ExportArgs(dest, force: true), tmpdir).ExitCode.Should().Be(0);
        Directory.GetDirectories(tmp.Path, "artifact.partial-*").Should().BeEmpty();
        Directory.GetFileSystemEntries(tmpdir)
            .Should().BeEmpty("killed children's temp folders are swept, and no runtime IPC files are left");
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
        string tmpdir = tmp.File("tmpdir");
        Directory.CreateDirectory(tmpdir);
        RunQuiet(Args("warm"), tmpdir).ExitCode.Should().Be(0); // the first run is slower (cold caches)
        // The reports are written after the summary line; kill points spread over the last case and the report writing.
        var phases = Phases(Args("ok"), tmpdir, ["case3", "comparisons"]).Where(p => p.Marker != "start").ToList();
        JsonDocument.Parse(File.ReadAllText(tmp.File("ok.json"))).RootElement.GetProperty("passed").GetBoolean().Should().BeTrue();
        XDocument.Load(tmp.File("ok.xml")).Root!.Name.LocalName.Should().Be("testsuites");
        Directory.GetFiles(tmp.Path, "*.partial-*").Should().BeEmpty("the temporary report files are renamed into place");

        var random = new Random(7);
        int kills = 0, none = 0, complete = 0, runs = 0;
        // Until 10 real kills; bounded.
        for (int i = 0; kills < 10 && i < 40; i++, runs++)
        {
            var (trigger, delay) = KillPoint(phases, i, random);
            if (RunAndKill(Args($"k{i}"), tmpdir, trigger, delay)) kills++;
            foreach (string ext in new[] { ".json", ".xml" })
            {
                string path = tmp.File($"k{i}{ext}");
                if (!File.Exists(path))
                {
                    none++;
                    continue;
                }
                if (ext == ".json") JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cases").GetArrayLength()
                    .Should().Be(4);
                else XDocument.Load(path).Root!.Elements("testsuite").Should().HaveCount(4);
                complete++;
            }
        }
        Counts.WriteLine(output, $"validate: {kills} kills in {runs} runs (kill points after 'case3' / the summary line); reports absent " +
            $"{none}, complete {complete}, partial 0");
        kills.Should().BeGreaterThanOrEqualTo(10);
        RunQuiet(Args("final"), tmpdir).ExitCode.Should().Be(0);
        Directory.GetFileSystemEntries(tmpdir)
            .Should().BeEmpty("killed children's temp folders are swept, and no runtime IPC files are left");
    }
}
