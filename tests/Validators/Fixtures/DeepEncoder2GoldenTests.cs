using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Parity;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>The DeepEncoder V2 builder against the ORIGINAL DeepSeek-OCR 2 outputs, on both paths, plus their mutual parity.</summary>
public class DeepEncoder2GoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void Both_paths_match_every_original_output_and_trace()
    {
        using var run = GoldenRun.Open("deepencoder2-tiny");
        var f = run.Fixture;
        var report = run.Parity();
        foreach (var o in report.AllOutputs)
            output.WriteLine($"{o.Case} {o.Comparison,-22} {o.Output,-30} max_abs={o.Result.MaxAbs:E2} max_rel={o.Result.MaxRel:E2} " +
                $"cos={o.Result.Cosine:F7} {(o.Result.Passed ? "ok" : o.Result.Failure)}");
        foreach (var comparison in new[] { "exported vs golden", "reference vs golden" })
            output.WriteLine($"{comparison}: max abs over all outputs and traces = " +
                $"{report.AllOutputs.Where(o => o.Comparison == comparison).Max(o => o.Result.MaxAbs):E2}");
        report.Cases.Select(c => c.Case).Should().Equal(f.Cases.Select(c => c.Name));
        f.Cases.Where(c => c.Traces.Count > 0).Select(c => c.Name).Should().Equal("case0", "case1");
        foreach (var comparison in new[] { "exported vs golden", "reference vs golden" })
            foreach (var c in f.Cases)
            {
                var compared = report.AllOutputs.Where(o => o.Case == c.Name && o.Comparison == comparison).Select(o => o.Output)
                    .ToHashSet();
                compared.Should().Contain(c.Outputs.Keys, $"{comparison} must compare every golden output of {c.Name}");
                if (c.Traces.Count > 0)
                    compared.Should().Contain(c.Traces.Keys.Select(t => "trace." + t),
                        $"{comparison} must compare every golden trace of {c.Name}");
            }
        report.AllOutputs.Where(o => o.Comparison == "exported vs reference").Should().NotBeEmpty();
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
        report.Passed.Should().BeTrue();
    }

    [Fact]
    public void A_shipped_global_part_validates_its_case_and_skips_the_others_with_a_reason()
    {
        using var run = GoldenRun.Open("deepencoder2-tiny");
        var f = run.Fixture;
        using var tmp = new TempDir();
        var graph = f.Architecture.Build(f.Config, new ModelForge.Graphs.Architectures.BuildRequest(64));
        graph.PruneUnused();
        var export = ModelForge.Converters.Onnx.OnnxExporter.Export(graph, run.Weights(), tmp.File("global.onnx"),
            new ModelForge.Converters.Onnx.OnnxExportOptions());
        var report = run.Parity(new ValidationOptions { ExportedModel = export.ModelPath });
        report.Cases.Select(c => (c.Case, c.Skipped)).Should().Equal(
            ("case0", null),
            ("case1", "skipped: input pixel_values [2, 3, 48, 48] does not fit the artifact's [1, 3, 64, 64]"),
            ("case2", "skipped: the artifact takes no input images_crop"));
        report.Passed.Should().BeTrue();
    }
}
