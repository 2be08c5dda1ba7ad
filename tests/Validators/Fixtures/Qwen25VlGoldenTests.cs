using FluentAssertions;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>
/// The Qwen2.5-VL vision tower against the ORIGINAL PyTorch outputs (transformers, eager attention), on both paths: an
/// exact multiple of the window (padded by a whole window in the original), two packed images with edge windows of
/// 16, 8, 8 and 4 patches, a 2-frame video. Block and merger traces are in the original's window order.
/// </summary>
public class Qwen25VlGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void Both_paths_match_the_original_pytorch_outputs_and_every_trace()
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var f = GoldenFixture.Load(Repo.Golden("qwen25vl-tiny"));
        var report = new ParityRunner(new ValidationOptions()).RunFixture(f);
        foreach (var g in report.AllOutputs.GroupBy(o => (o.Case, o.Comparison)))
            output.WriteLine($"{g.Key.Case} {g.Key.Comparison,-22} {g.Count()} tensors, max_abs={g.Max(o => o.Result.MaxAbs):E2} "
                + $"(image_features {g.Single(o => o.Output == "image_features").Result.MaxAbs:E2}) {(g.All(o => o.Result.Passed) ? "ok" : "FAIL")}");
        report.Cases.Select(c => c.Case).Should().Equal("case0", "case1", "case2");
        string[] expected = ["image_features", "trace.patch_embed", "trace.blocks.0", "trace.blocks.1", "trace.blocks.2", "trace.blocks.3", "trace.merger"];
        foreach (var c in f.Cases)
            foreach (var comparison in new[] { "exported vs golden", "reference vs golden", "exported vs reference" })
                report.AllOutputs.Where(o => o.Case == c.Name && o.Comparison == comparison).Select(o => o.Output)
                    .Should().BeEquivalentTo(expected, $"{c.Name}: {comparison} covers the output and every float trace");
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
        report.Passed.Should().BeTrue();
    }

    [Fact]
    public void Host_window_index_and_window_lengths_equal_the_originals()
    {
        // window_index and cu_window_seqlens as the original computed them (golden traces), against the host's windows:
        // per frame, offset by the tokens of the frames before (the original numbers units across the whole batch).
        using var f = GoldenFixture.Load(Repo.Golden("qwen25vl-tiny"));
        var cfg = Qwen25VlVisionConfig.FromJson(f.Config);
        foreach (var c in f.Cases)
        {
            var index = new List<long>();
            var cu = new List<long> { 0 };
            foreach (var g in Qwen2VlPositions.ParseGrid(c.Inputs["grid_thw"]))
                for (int t = 0; t < g.T; t++)
                {
                    var w = Qwen25VlWindows.Frame(g.H, g.W, cfg.WindowUnits, cfg.SpatialMergeSize);
                    long offset = index.Count;
                    index.AddRange(w.WindowIndex.Select(i => i + offset));
                    foreach (int len in w.WindowLengths) cu.Add(cu[^1] + len);
                    w.WindowBias.Count(b => b == 0).Should().Be(w.Patches, "one unmasked slot per patch");
                }
            index.Should().Equal(c.Traces["window_index"].Longs, c.Name);
            cu.Should().Equal(c.Traces["cu_window_seqlens"].Longs, c.Name);
        }
    }
}
