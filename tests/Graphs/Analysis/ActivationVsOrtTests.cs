using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Analysis;
using ModelForge.Graphs.Architectures;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Graphs.Analysis;

/// <summary>
/// The activation model against ONNX Runtime CPU's measured peak on the tiny golden fixtures (their configs and checkpoints),
/// at batch sizes that make the activations tens of MB so that the resident-memory measurement is not lost in allocator noise.
/// Each measurement is `modelforge bench --no-arena` in its own process: the RSS high-water mark during the runs minus the
/// RSS just before them. The released-size comparison is `modelforge compare --measure` (heavy), not a unit test.
/// </summary>
public sealed class ActivationVsOrtTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, string, string> Cases => new()
    {
        // fixture, graph request (image size or ""), symbol bindings for bench, architecture
        { "deepencoder-tiny", "256", "B=16", "deepencoder" },
        { "internvl2-tiny", "56", "B=256", "internvl2" },
        { "vary-tiny", "", "B=32", "vary" },
        { "qwen2vl-tiny", "", "M=1024,F=1", "qwen2vl" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Model_is_within_25_percent_of_the_measured_ORT_CPU_peak(string fixture, string size, string dims, string archName)
    {
        using var tmp = new TempDir();
        string dir = Repo.Golden(fixture);
        var args = new List<string> { "export", "--arch", archName, "--checkpoint", Path.Combine(dir, "model.safetensors"), "--config",
            Path.Combine(dir, "fixture.json"), "--out", tmp.File("a") };
        if (size.Length > 0) args.AddRange(["--image-size", size]);
        var export = Support.Cli.Run([.. args]);
        export.ExitCode.Should().Be(0, export.ToString());
        var onnx = Directory.GetFiles(tmp.File("a"), "*.onnx").Single();

        var bindings = dims.Split(',').Select(d => d.Split('='))
            .ToDictionary(p => p[0], p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        var bench = Support.Cli.Run(["bench", onnx, "--no-arena", "--json", "--warmup", "1", "--iterations", "3",
            .. bindings.SelectMany(kv => new[] { "--dim", $"{kv.Key}={kv.Value}" })]);
        bench.ExitCode.Should().Be(0, bench.ToString());
        using var doc = JsonDocument.Parse(bench.Stdout);
        var mem = doc.RootElement[0].GetProperty("memory");
        long measured = mem.GetProperty("peak_during_runs").GetInt64() - mem.GetProperty("rss_before_runs").GetInt64();

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "fixture.json")));
        var arch = ArchitectureRegistry.Get(archName);
        var graph = arch.Build(config.RootElement,
            new BuildRequest(size.Length > 0 ? int.Parse(size, System.Globalization.CultureInfo.InvariantCulture) : null));
        graph.PruneUnused();
        var model = ActivationModel.Simulate(graph, bindings, AttentionMemory.Materialized);
        double error = (model.PeakBytes - (double)measured) / measured;
        output.WriteLine($"{fixture} {dims}: model {model.PeakBytes / 1048576.0:F1} MB (peak at {model.PeakNode}), ORT CPU measured " +
            $"{measured / 1048576.0:F1} MB, error {error:P0}");
        Math.Abs(error).Should().BeLessThan(0.25, $"model {model.PeakBytes} B vs measured {measured} B");
    }
}
