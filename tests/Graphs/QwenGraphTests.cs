using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>The Qwen2-VL and Qwen2.5-VL graphs: released sizes, and inputs that grow at most linearly with the tokens.</summary>
public class QwenGraphTests
{
    [Fact]
    public void Released_qwen2vl_7b_vision_tower_has_675m_parameters()
    {
        var g = ArchitectureRegistry.Get("qwen2vl").Build(null, new BuildRequest());
        // patch 1280*1176; per block 2 LayerNorms, qkv, proj, fc1 1280->5120, fc2 (all with bias); merger ln_q, 5120->5120, 5120->3584.
        long block = 2 * 2 * 1280 + (1280L * 3840 + 3840) + (1280L * 1280 + 1280) + (1280L * 5120 + 5120) + (5120L * 1280 + 1280);
        g.ParameterCount.Should().Be(1280L * 1176 + 32 * block + 2 * 1280 + (5120L * 5120 + 5120) + (5120L * 3584 + 3584))
            .And.Be(675_759_104);
    }

    [Fact]
    public void Released_qwen25vl_7b_vision_tower_has_677m_parameters()
    {
        var g = ArchitectureRegistry.Get("qwen25vl").Build(null, new BuildRequest());
        // Per block 2 RMSNorms (weight only), qkv, proj, SwiGLU gate/up 1280->3420 and down 3420->1280 (all with bias).
        long block = 2 * 1280 + (1280L * 3840 + 3840) + (1280L * 1280 + 1280) + 2 * (1280L * 3420 + 3420) + (3420L * 1280 + 1280);
        g.ParameterCount.Should().Be(1280L * 1176 + 32 * block + 1280 + (5120L * 5120 + 5120) + (5120L * 3584 + 3584)).And.Be(676_550_144);
        g.Inputs.Single(i => i.Name == "window_bias").Shape.ToString().Should().Be("[W, 1, 1, 64]", "112 px windows hold 8x8 patches");
    }

    [Theory]
    [InlineData("qwen2vl")]
    [InlineData("qwen25vl")]
    public void No_input_or_initializer_grows_faster_than_the_token_count(string family)
    {
        // Released config; processor inputs for a 448x448 image (32x32 patches) and a 1792x1792 image (128x128): 16x the
        // tokens. Every graph input of every planned call may grow at most 16x (plus window padding); initializers not at all.
        var arch = ArchitectureRegistry.Get(family);
        var graph = arch.Build(null, new BuildRequest());
        graph.Initializers.Should().OnlyContain(i => i.Value.Shape.IsFullyKnown, "weights and constants do not depend on the image");
        foreach (var input in graph.Inputs)
            input.Shape.Dims.Count(d => !d.IsKnown).Should().BeLessThanOrEqualTo(2, $"{input.Name} {input.Shape}");

        Dictionary<string, long> Sizes(int side)
        {
            var given = new Dictionary<string, HostTensor>
            {
                ["pixel_values"] = new([(long)side * side, 1176], new float[(long)side * side * 1176]),
                ["grid_thw"] = new([1, 3], [1L, side, side]),
            };
            var calls = arch.PlanCalls(null, given);
            calls.Should().ContainSingle();
            calls[0].Keys.Should().BeEquivalentTo(graph.Inputs.Select(i => i.Name));
            return calls[0].ToDictionary(kv => kv.Key, kv => kv.Value.ElementCount);
        }
        var small = Sizes(32);
        var large = Sizes(128);
        foreach (var (name, n) in small)
        {
            double ratio = (double)large[name] / n;
            ratio.Should().BeLessThanOrEqualTo(16 * 1.25, $"{name}: {n} -> {large[name]} elements for 16x the tokens");
        }
        // The dense [N, N] bias of the old Qwen2-VL graph would have grown 256x here (16,384² floats = 1 GiB at 1792 px).
        large.Values.Max().Should().BeLessThan(128L * 128 * 1176 + 1);
    }

    [Theory]
    [InlineData("qwen2vl-tiny")]
    [InlineData("qwen25vl-tiny")]
    public void Exported_onnx_inputs_have_at_most_one_token_dependent_axis(string fixture)
    {
        // A dense [N, N] input would show as two axes over the token symbol; windows W and tokens M are both linear in N.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Golden(fixture), "fixture.json")));
        var arch = ArchitectureRegistry.Get(doc.RootElement.GetProperty("architecture").GetString()!);
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        using var ckpt = Checkpoint.Open(Path.Combine(Repo.Golden(fixture), "model.safetensors"));
        using var tmp = new TempDir();
        var export = OnnxExporter.Export(graph, new CheckpointWeights(ckpt, arch.Adapter), tmp.File("model.onnx"));
        var onnx = OnnxModelReader.Read(export.ModelPath);
        onnx.Inputs.Should().NotBeEmpty();
        foreach (var input in onnx.Inputs)
            input.Dims.Count(d => d.Contains('M') || d.Contains('W')).Should().BeLessThanOrEqualTo(1, input.ToString());
        onnx.Inputs.Should().NotContain(i => i.Name == "attention_bias");
    }

    [Fact]
    public void Window_layout_of_an_exact_multiple_and_of_a_ragged_grid()
    {
        // 8x12 patches = 4x6 units, windows of 2x2 units: six full windows (the original's extra padding window is empty).
        var exact = Qwen25VlWindows.Frame(8, 12, windowUnits: 2, mergeSize: 2);
        exact.WindowLengths.Should().Equal(16, 16, 16, 16, 16, 16);
        exact.WindowBias.Should().OnlyContain(b => b == 0f);
        // 6x6 patches = 3x3 units: windows of 2x2, 2x1, 1x2, 1x1 units.
        var ragged = Qwen25VlWindows.Frame(6, 6, windowUnits: 2, mergeSize: 2);
        ragged.WindowLengths.Should().Equal(16, 8, 8, 4);
        ragged.WindowIndex.Should().Equal(0L, 1, 3, 4, 2, 5, 6, 7, 8);
        ragged.Windows.Should().Be(4);
        ragged.WindowSlots.Should().HaveCount(4 * 16);
        // Padding slots of the 2x1-unit window (slots 8..15 of window 1) are masked keys; unpadding inverts padding.
        ragged.WindowBias.Skip(16).Take(16).Should().Equal(Enumerable.Repeat(0f, 8).Concat(Enumerable.Repeat(Qwen25VlWindows.Masked, 8)));
        for (int r = 0; r < ragged.Patches; r++) ragged.WindowSlots[ragged.WindowRows[r]].Should().Be(r);
        for (int i = 0; i < 9; i++) ragged.WindowIndex[ragged.TokenOrder[i]].Should().Be(i, "token_order is argsort(window_index)");
    }

    [Fact]
    public void Bad_window_configs_are_refused_naming_the_field()
    {
        using var doc = JsonDocument.Parse("""{"vit": {"window_size": 100}}""");
        var act = () => ArchitectureRegistry.Get("qwen25vl").Build(doc.RootElement, new BuildRequest());
        act.Should().Throw<GraphException>().WithMessage("*vit.window_size 100 must be a positive multiple of*28*");
        using var doc2 = JsonDocument.Parse("""{"vit": {"depth": 4, "fullatt_block_indexes": [1, 4]}}""");
        var act2 = () => ArchitectureRegistry.Get("qwen25vl").Build(doc2.RootElement, new BuildRequest());
        act2.Should().Throw<GraphException>().WithMessage("*fullatt_block_indexes must lie in [0, 4)*");
    }
}
