using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>The Vary and InternVL 2.0 builders against the ORIGINAL PyTorch outputs, on both paths, plus their mutual parity.</summary>
public class FamilyGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("vary-tiny")]
    [InlineData("internvl2-tiny")]
    [InlineData("internvit6b-tiny")]      // RMSNorm, QK normalization, no qkv bias (tools/GoldenInternVit6B)
    [InlineData("internvit6b-tiny-hf")]   // the same weights under transformers' "-hf" names, q/k/v split
    public void Both_paths_match_the_original_pytorch_outputs(string fixture)
    {
        using var run = GoldenRun.Open(fixture);
        var f = run.Fixture;
        var report = run.Parity();
        foreach (var o in report.AllOutputs)
            output.WriteLine($"{o.Case} {o.Comparison,-22} {o.Output,-24} max_abs={o.Result.MaxAbs:E2} max_rel={o.Result.MaxRel:E2} " +
                $"cos={o.Result.Cosine:F7} {(o.Result.Passed ? "ok" : o.Result.Failure)}");
        report.Cases.Select(c => c.Case).Should().Equal(f.Cases.Select(c => c.Name));
        foreach (var comparison in new[] { "exported vs golden", "reference vs golden", "exported vs reference" })
            report.AllOutputs.Where(o => o.Comparison == comparison).Should().NotBeEmpty($"{comparison} must be compared");
        foreach (var c in f.Cases)
            report.AllOutputs.Where(o => o.Case == c.Name && o.Comparison == "exported vs golden").Select(o => o.Output)
                .Should().Contain(c.Outputs.Keys, "every golden output must be produced");
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
        report.Passed.Should().BeTrue();
    }
}
