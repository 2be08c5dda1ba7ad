using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>The host side of Qwen2-VL: rotary tables derived from grid_thw by hand, and the split into per-image calls.</summary>
public class Qwen2VlPositionsTests
{
    [Fact]
    public void Rotary_rows_follow_the_merge_window_order()
    {
        // One 2x4 frame, merge 2: windows (rows 0-1, cols 0-1) then (rows 0-1, cols 2-3), each row-major inside.
        int[] hpos = [0, 0, 1, 1, 0, 0, 1, 1];
        int[] wpos = [0, 1, 0, 1, 2, 3, 2, 3];
        // head_dim 8: head_dim/4 = 2 frequencies, 1 and 1/theta^(2/4) = 0.01; row = [h*f0, h*f1, w*f0, w*f1] twice.
        var r = Qwen2VlPositions.Frame(2, 4, headDim: 8, theta: 10000, mergeSize: 2);
        r.Patches.Should().Be(8);
        for (int p = 0; p < 8; p++)
        {
            double[] angles = [hpos[p], hpos[p] * 0.01, wpos[p], wpos[p] * 0.01];
            for (int k = 0; k < 8; k++)
            {
                r.Cos[p * 8 + k].Should().BeApproximately((float)Math.Cos(angles[k % 4]), 1e-6f, $"cos row {p} col {k}");
                r.Sin[p * 8 + k].Should().BeApproximately((float)Math.Sin(angles[k % 4]), 1e-6f, $"sin row {p} col {k}");
            }
        }
    }

    [Fact]
    public void Plan_calls_gives_one_call_per_image_or_video_with_frames_on_the_batch_axis()
    {
        // A 2-frame 2x2 video then a 2x4 image: pixel rows 0..7 (video, two frames of 4), then 8..15 (image).
        var arch = ArchitectureRegistry.Get("qwen2vl");
        using var doc = JsonDocument.Parse("""{"vit": {"embed_dim": 64, "num_heads": 4}}""");
        var pixels = new float[16 * 1176];
        for (int row = 0; row < 16; row++) Array.Fill(pixels, row, row * 1176, 1176);
        var given = new Dictionary<string, HostTensor>
        {
            ["pixel_values"] = new([16, 1176], pixels),
            ["grid_thw"] = new([2, 3], [2L, 2, 2, 1, 2, 4]),
        };
        var calls = arch.PlanCalls(doc.RootElement, given);
        calls.Should().HaveCount(2);
        calls[0]["pixel_values"].Shape.Should().Equal(2, 4, 1176);
        calls[1]["pixel_values"].Shape.Should().Equal(1, 8, 1176);
        calls[0]["pixel_values"].Data[4 * 1176].Should().Be(4, "frame 2 of the video starts at packed row 4");
        calls[1]["pixel_values"].Data[0].Should().Be(8, "the image starts after the video's 8 rows");
        calls[0]["rotary_cos"].Shape.Should().Equal(4, 16);
        calls[1]["rotary_cos"].Shape.Should().Equal(8, 16);
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        foreach (var call in calls) graph.Inputs.Select(i => i.Name).Should().BeEquivalentTo(call.Keys);

        // Joining: [F, rows, C] per call -> packed rows in call order.
        var joined = arch.CombineCalls(doc.RootElement,
        [
            new Dictionary<string, HostTensor> { ["y"] = new([2, 1, 2], [0f, 1, 2, 3]) },
            new Dictionary<string, HostTensor> { ["y"] = new([1, 2, 2], [4f, 5, 6, 7]) },
        ]);
        joined["y"].Shape.Should().Equal(4, 2);
        joined["y"].Data.Should().Equal(0f, 1, 2, 3, 4, 5, 6, 7);
    }

    [Fact]
    public void Pixel_rows_that_do_not_match_grid_thw_are_refused()
    {
        var arch = ArchitectureRegistry.Get("qwen2vl");
        var given = new Dictionary<string, HostTensor>
        {
            ["pixel_values"] = new([12, 1176], new float[12 * 1176]),
            ["grid_thw"] = new([1, 3], [1L, 2, 4]),
        };
        var act = () => arch.PlanCalls(null, given);
        act.Should().Throw<GraphException>().WithMessage("*pixel_values f32[12, 1176] does not hold the [8, 1176] packed patch rows*");
    }

    [Fact]
    public void Grids_that_do_not_fold_into_merge_windows_are_refused()
    {
        var act = () => Qwen2VlPositions.Frame(3, 4, 8, 10000, 2);
        act.Should().Throw<GraphException>().WithMessage("*multiples of the merge size 2*");
    }
}
