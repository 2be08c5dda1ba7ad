using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>
/// Issue 16: validate holds each weight once per path and creates one session per part (or case graph) per run, so its
/// memory does not grow with the number of cases. Real fixtures, real TorchSharp and ONNX Runtime.
/// </summary>
public sealed class ParityMemoryTests
{
    /// <summary>A copy of a fixture whose cases are repeated <paramref name="times"/> times (caseN_rK), checkpoint linked.</summary>
    internal static string Repeated(string source, string dest, int times)
    {
        Directory.CreateDirectory(dest);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "fixture.json")))!.AsObject();
        var original = json["cases"]!.AsArray().Select(c => c!.DeepClone().AsObject()).ToList();
        var cases = new JsonArray();
        var renames = new List<(string From, string To)>();
        for (int k = 0; k < times; k++)
            foreach (var c in original)
            {
                var copy = c.DeepClone().AsObject();
                string from = c["name"]!.GetValue<string>(), to = $"{from}_r{k}";
                copy["name"] = to;
                cases.Add(copy);
                renames.Add((from, to));
            }
        json["cases"] = cases;
        File.WriteAllText(Path.Combine(dest, "fixture.json"), json.ToJsonString());
        File.CreateSymbolicLink(Path.Combine(dest, "model.safetensors"), Path.Combine(source, "model.safetensors"));
        using var golden = SafetensorsFile.Open(Path.Combine(source, "golden.safetensors"));
        var tensors = new List<WritableTensor>();
        foreach (var (from, to) in renames)
            foreach (var t in golden.Tensors.Where(t => t.Name.StartsWith(from + ".", StringComparison.Ordinal)))
            {
                var bytes = golden.GetBytes(t.Name).ToArray();
                tensors.Add(new WritableTensor(to + t.Name[from.Length..], t.DType, t.Shape, () => bytes));
            }
        SafetensorsWriter.Write(Path.Combine(dest, "golden.safetensors"), tensors);
        return dest;
    }

    [Fact]
    public void Repeated_cases_of_one_graph_export_once_and_open_one_session()
    {
        using var tmp = new TempDir();
        using var fixture = GoldenFixture.Load(Repeated(Repo.Golden("qwen2vl-tiny"), tmp.File("fx"), 3));
        var progress = new List<string>();
        var report = new ParityRunner(new ValidationOptions(), progress.Add).RunFixture(fixture);

        report.Cases.Should().HaveCount(9);
        report.Passed.Should().BeTrue();
        // Every Qwen2-VL case builds the same graph: one export and one session serve all nine (before: nine of each).
        progress.Count(p => p.StartsWith("export: ", StringComparison.Ordinal)).Should().Be(1);
        progress.Count(p => p.StartsWith("session: ", StringComparison.Ordinal)).Should().Be(1);
        // The paths run one after the other: every exported run comes before the first reference run.
        int lastExported = progress.FindLastIndex(p => p.StartsWith("exported: ", StringComparison.Ordinal));
        int firstReference = progress.FindIndex(p => p.StartsWith("reference: ", StringComparison.Ordinal));
        lastExported.Should().BeLessThan(firstReference);
    }

    [Fact]
    public void A_given_artifact_gets_one_session_for_all_cases()
    {
        using var tmp = new TempDir();
        string fx = Repeated(Repo.Golden("qwen2vl-tiny"), tmp.File("fx"), 2);
        var export = Support.Cli.Run("export", "--arch", "qwen2vl", "--checkpoint", Path.Combine(fx, "model.safetensors"), "--config",
            Path.Combine(fx, "fixture.json"), "--out", tmp.File("onnx"));
        export.ExitCode.Should().Be(0, export.ToString());
        using var fixture = GoldenFixture.Load(fx);
        var progress = new List<string>();
        var options = new ValidationOptions { ExportedModels = [Path.Combine(tmp.File("onnx"), "model.onnx")] };
        var report = new ParityRunner(options, progress.Add)
            .RunFixture(fixture);

        report.Passed.Should().BeTrue();
        report.Cases.Should().HaveCount(6).And.OnlyContain(c => c.Skipped == null);
        // Before: a session per case for the fit check plus one per case for the run.
        progress.Count(p => p.StartsWith("session: ", StringComparison.Ordinal)).Should().Be(1);
    }

    [Fact]
    public void A_fixtures_saved_inputs_validate_a_checkpoint_case_by_case_on_one_graph()
    {
        using var tmp = new TempDir();
        string fx = Repo.Golden("qwen2vl-tiny");
        var save = Support.Cli.Run("validate", "--fixture", fx, "--paths", "reference", "--no-traces",
            "--save-inputs", tmp.File("in.safetensors"));
        save.ExitCode.Should().Be(0, save.ToString());
        var r = Support.Cli.Run("validate", "--arch", "qwen2vl", "--checkpoint", Path.Combine(fx, "model.safetensors"), "--config",
            Path.Combine(fx, "fixture.json"), "--inputs", tmp.File("in.safetensors"), "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        var doc = JsonNode.Parse(r.Stdout)!;
        doc["report"]!["cases"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()).Should().Equal("case0", "case1", "case2");
        doc["report"]!["passed"]!.GetValue<bool>().Should().BeTrue();
        // One graph for the three processor batches: one export, one session (the progress lines on stderr).
        r.ProgressLines.Count(l => l.Contains("] export: ", StringComparison.Ordinal) && !l.Contains(": done", StringComparison.Ordinal))
            .Should().Be(1, r.Stderr);
    }

    /// <summary>
    /// A long validate in a child process: the peak RSS of 3N cases (deepencoder-tiny's four cases six times: three
    /// graphs, interleaved) stays within 6% of the peak of N cases. Before the fix each case exported its graph, opened a
    /// session, converted the weights and held its golden tensors for the whole run: run against that code (main at
    /// 7431e77) the same two fixtures peaked 11% and 13.5% apart; now 0-1.2% (2-core shared machine).
    /// </summary>
    [Fact]
    public void Validate_peak_rss_does_not_grow_with_the_number_of_cases()
    {
        using var tmp = new TempDir();
        string source = Repo.Golden("deepencoder-tiny");
        string few = Repeated(source, tmp.File("few"), 2), many = Repeated(source, tmp.File("many"), 6);
        var (fewPeak, fewResult) = PeakRss("validate", "--fixture", few);
        var (manyPeak, manyResult) = PeakRss("validate", "--fixture", many);
        fewResult.ExitCode.Should().Be(0, fewResult.ToString());
        manyResult.ExitCode.Should().Be(0, manyResult.ToString());
        fewPeak.Should().BePositive("VmHWM was read from /proc");
        double growth = (manyPeak - fewPeak) / (double)fewPeak;
        growth.Should().BeLessThan(0.06, $"8 cases peaked at {fewPeak >> 20} MiB, 24 cases at {manyPeak >> 20} MiB");
    }

    /// <summary>Runs the CLI and samples its VmHWM (peak resident set) every 20 ms until it exits.</summary>
    internal static (long Peak, CliResult Result) PeakRss(params string[] args)
    {
        using var p = Process.Start(Support.Cli.StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        var sw = Stopwatch.StartNew();
        while (!p.WaitForExit(20))
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(3))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"modelforge {string.Join(' ', args)} did not finish in 3 minutes");
            }
            try
            {
                var line = File.ReadLines($"/proc/{p.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null)
                    peak = Math.Max(peak, long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024);
            }
            catch (IOException)
            {
                // The process exited between WaitForExit and the read.
            }
        }
        p.WaitForExit();
        return (peak, new CliResult(p.ExitCode, stdout.Result, stderr.Result));
    }
}
