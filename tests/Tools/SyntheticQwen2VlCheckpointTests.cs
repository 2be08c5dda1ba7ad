using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Tools;
using Xunit;

namespace ModelForge.Tests.Tools;

/// <summary>
/// The synthetic released-size Qwen2-VL-7B vision checkpoint of tools/QwenVisionRss: its explicit key table is the released
/// layout, which the qwen2vl builder must read exactly (two independent encodings of the same checkpoint), and its
/// values are deterministic. The 1.35 GB file itself is written only by the measurement run, not by tests.
/// </summary>
public class SyntheticQwen2VlCheckpointTests
{
    [Fact]
    public void Key_table_is_what_the_qwen2vl_graph_reads()
    {
        var shapes = SyntheticQwen2VlCheckpoint.TensorShapes();
        SyntheticQwen2VlCheckpoint.ParameterCount(shapes).Should().Be(675_759_104);
        shapes.Should().HaveCount(7 + 32 * 12);
        var arch = ArchitectureRegistry.Get("qwen2vl");
        var graph = arch.Build(null, new BuildRequest());
        var declared = graph.DeclaredWeights.ToDictionary(kv => arch.Adapter.ToCheckpointKey(kv.Key), kv => kv.Value.ToLongs());
        declared.Keys.Should().BeEquivalentTo(shapes.Keys);
        foreach (var (key, shape) in shapes) declared[key].Should().Equal(shape, key);
        ModelForge.Graphs.Architectures.FamilySignatures.Identify(shapes.Keys).Should().Be("qwen2vl");
    }

    [Fact]
    public void Values_are_deterministic_and_in_their_ranges()
    {
        var norm = SyntheticQwen2VlCheckpoint.Values("visual.blocks.3.norm1.weight", [1280]);
        norm.Should().OnlyContain(v => v >= 0.95f && v <= 1.05f);
        var w = SyntheticQwen2VlCheckpoint.Values("visual.blocks.0.mlp.fc1.weight", [5120, 1280]);
        w.Should().Equal(SyntheticQwen2VlCheckpoint.Values("visual.blocks.0.mlp.fc1.weight", [5120, 1280]));
        double std = Math.Sqrt(w.Average(v => (double)v * v));
        std.Should().BeApproximately(0.5 / Math.Sqrt(1280), 0.001, "uniform with std 0.5/sqrt(fan_in)");
        SyntheticQwen2VlCheckpoint.Values("visual.blocks.1.mlp.fc1.weight", [4])
            .Should().NotEqual(SyntheticQwen2VlCheckpoint.Values("visual.blocks.0.mlp.fc1.weight", [4]), "each tensor has its own stream");
        // bf16 rounding: nearest, ties to even.
        SyntheticQwen2VlCheckpoint.ToBf16(1f).Should().Be(0x3F80);
        SyntheticQwen2VlCheckpoint.ToBf16(BitConverter.UInt32BitsToSingle(0x3F808000))
            .Should().Be(0x3F80, "a tie rounds to the even 0x3F80");
        SyntheticQwen2VlCheckpoint.ToBf16(BitConverter.UInt32BitsToSingle(0x3F818000))
            .Should().Be(0x3F82, "a tie rounds to the even 0x3F82");
        SyntheticQwen2VlCheckpoint.ToBf16(BitConverter.UInt32BitsToSingle(0x3F808001)).Should().Be(0x3F81);
    }
}
