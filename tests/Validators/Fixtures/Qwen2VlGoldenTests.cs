using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>
/// The Qwen2-VL vision tower against the ORIGINAL PyTorch outputs (transformers, eager attention), on both paths: one
/// image, two packed images of different sizes, a 2-frame video. The graph is built once per case but is the same
/// symbolic graph; grid_thw becomes rotary cos/sin and the attention bias on the host.
/// </summary>
public class Qwen2VlGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void Both_paths_match_the_original_pytorch_outputs()
    {
        using var run = GoldenRun.Open("qwen2vl-tiny");
        var f = run.Fixture;
        var report = run.Parity();
        foreach (var o in report.AllOutputs.Where(o => !o.Output.StartsWith("trace.", StringComparison.Ordinal)))
            output.WriteLine($"{o.Case} {o.Comparison,-22} {o.Output,-18} max_abs={o.Result.MaxAbs:E2} max_rel={o.Result.MaxRel:E2} " +
                $"cos={o.Result.Cosine:F7} {(o.Result.Passed ? "ok" : o.Result.Failure)}");
        report.Cases.Select(c => c.Case).Should().Equal("case0", "case1", "case2");
        foreach (var c in f.Cases)
            foreach (var comparison in new[] { "exported vs golden", "reference vs golden" })
                report.AllOutputs.Where(o => o.Case == c.Name && o.Comparison == comparison).Select(o => o.Output)
                    .Should().BeEquivalentTo(new[] { "image_features", "last_hidden_state" },
                        $"{c.Name}: {comparison} covers both golden outputs");
        report.AllOutputs.Where(o => o.Comparison == "exported vs reference").Should().NotBeEmpty();
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
        report.Passed.Should().BeTrue();
    }
}
