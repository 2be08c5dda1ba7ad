using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>The host side of Qwen2-VL: rotary tables and the frame-block attention bias derived from grid_thw, by hand.</summary>
public class Qwen2VlPositionsTests
{
    [Fact]
    public void Rotary_rows_follow_the_merge_window_order()
    {
        // One 2x4 frame, merge 2: windows (rows 0-1, cols 0-1) then (rows 0-1, cols 2-3), each row-major inside.
        int[] hpos = [0, 0, 1, 1, 0, 0, 1, 1];
        int[] wpos = [0, 1, 0, 1, 2, 3, 2, 3];
        // head_dim 8: head_dim/4 = 2 frequencies, 1 and 1/theta^(2/4) = 0.01; row = [h*f0, h*f1, w*f0, w*f1] twice.
        var r = Qwen2VlPositions.Compute([new GridThw(1, 2, 4)], headDim: 8, theta: 10000, mergeSize: 2);
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
    public void Attention_stays_inside_each_frame_of_each_image()
    {
        // A 2-frame 2x2 video then a 2x2 image: three 4-patch frames, block-diagonal bias over 12 patches.
        var r = Qwen2VlPositions.Compute([new GridThw(2, 2, 2), new GridThw(1, 2, 2)], headDim: 4, theta: 10000, mergeSize: 2);
        r.Patches.Should().Be(12);
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < 12; j++)
                r.Bias[i * 12 + j].Should().Be(i / 4 == j / 4 ? 0f : Qwen2VlPositions.Masked, $"bias[{i}, {j}]");
        // Every frame restarts its positions: row 4 (frame 2's first patch) has the angles of row 0.
        r.Cos.AsSpan(16, 4).ToArray().Should().Equal(r.Cos.AsSpan(0, 4).ToArray());
    }

    [Fact]
    public void Prepare_inputs_turns_grid_thw_into_the_graph_inputs()
    {
        var arch = ArchitectureRegistry.Get("qwen2vl");
        using var doc = JsonDocument.Parse("""{"vit": {"embed_dim": 64, "num_heads": 4}}""");
        var given = new Dictionary<string, HostTensor>
        {
            ["pixel_values"] = new([8, 1176], new float[8 * 1176]),
            ["grid_thw"] = new([1, 3], [1L, 2, 4]),
        };
        var prepared = arch.PrepareInputs(doc.RootElement, given);
        prepared.Keys.Should().BeEquivalentTo("pixel_values", "rotary_cos", "rotary_sin", "attention_bias");
        prepared["rotary_cos"].Shape.Should().Equal(8, 16);
        prepared["attention_bias"].Shape.Should().Equal(8, 8);
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        graph.Inputs.Select(i => i.Name).Should().BeEquivalentTo(prepared.Keys);
    }

    [Fact]
    public void Grids_that_do_not_fold_into_merge_windows_are_refused()
    {
        var act = () => Qwen2VlPositions.Compute([new GridThw(1, 3, 4)], 8, 10000, 2);
        act.Should().Throw<GraphException>().WithMessage("*multiples of the merge size 2*");
    }
}
