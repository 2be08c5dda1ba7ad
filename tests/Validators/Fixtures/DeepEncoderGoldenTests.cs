using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>The DeepEncoder builder against the ORIGINAL PyTorch outputs, on both paths, plus their mutual parity.</summary>
public class DeepEncoderGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("deepencoder-tiny")]
    [InlineData("deepencoder-tiny-bf16")]
    public void Both_paths_match_the_original_pytorch_outputs(string fixture)
    {
        using var run = GoldenRun.Open(fixture);
        var f = run.Fixture;
        var report = run.Parity();
        foreach (var o in report.AllOutputs.Where(o => !o.Output.StartsWith("trace.", StringComparison.Ordinal)))
            output.WriteLine($"{o.Case} {o.Comparison,-22} {o.Output,-20} max_abs={o.Result.MaxAbs:E2} max_rel={o.Result.MaxRel:E2} " +
                $"cos={o.Result.Cosine:F7} {(o.Result.Passed ? "ok" : o.Result.Failure)}");
        report.Cases.Select(c => c.Case).Should().Equal(f.Cases.Select(c => c.Name));
        foreach (var comparison in new[] { "exported vs golden", "reference vs golden", "exported vs reference" })
            report.AllOutputs.Where(o => o.Comparison == comparison).Should().NotBeEmpty($"{comparison} must be compared");
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
        report.Passed.Should().BeTrue();
    }

    [Fact]
    public void Every_golden_output_and_trace_is_compared()
    {
        using var run = GoldenRun.Open("deepencoder-tiny");
        var f = run.Fixture;
        var report = run.Parity(new ValidationOptions { Paths = new HashSet<ValidationPath> { ValidationPath.Exported } });
        foreach (var c in f.Cases)
        {
            var compared = report.AllOutputs.Where(o => o.Case == c.Name).Select(o => o.Output).ToHashSet();
            compared.Should().Contain(c.Outputs.Keys);
            compared.Should().Contain(c.Traces.Keys.Select(t => "trace." + t));
        }
    }
}
