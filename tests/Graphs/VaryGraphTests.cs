using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Vary;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Graphs;

public class VaryGraphTests
{
    [Fact]
    public void Released_config_is_SAM_B_1024_and_CLIP_L_224()
    {
        var c = VaryConfig.Default;
        (c.Sam.ImageSize, c.Sam.EmbedDim, c.Sam.Depth, c.Sam.Net3Channels).Should().Be((1024, 768, 12, 1024));
        (c.Clip.ImageSize, c.Clip.PatchSize, c.Clip.HiddenSize, c.Clip.NumLayers).Should().Be((224, 14, 1024, 24));
        c.VisionSelectLayer.Should().Be(-2);
    }

    [Fact]
    public void Released_config_reads_the_released_vision_parameters()
    {
        var g = VaryBuilder.Build(VaryConfig.Default);
        // SAM-B with net_2/net_3: 95,569,152 (DeepEncoder's 401,369,600 less its CLIP and projector, as counted there).
        // HF CLIP-L/14 vision model: 303,179,776, less post_layernorm (2*1024, not read: hidden_states[-2]).
        // mm_projector and mm_projector_vary: 2 * (1024*2048 + 2048).
        g.ParameterCount.Should().Be(95_569_152 + 303_179_776 - 2048 + 2 * (1024L * 2048 + 2048));
        g.DeclaredWeights.Should().ContainKey("vision_tower.vision_model.encoder.layers.23.self_attn.q_proj.weight");
        g.DeclaredWeights.Keys.Should()
            .NotContain(k => k.Contains("qkv_proj"), "packed qkv is an export-time constant, not a checkpoint key");
    }

    [Fact]
    public void Outputs_are_256_tokens_with_both_projections_on_channels()
    {
        var g = VaryBuilder.Build(VaryConfig.Default);
        g.Inputs.Select(i => (i.Name, i.Shape)).Should().Equal(
            ("clip_pixel_values", new Shape(Dim.Sym("B"), 3, 224, 224)),
            ("sam_pixel_values", new Shape(Dim.Sym("B"), 3, 1024, 1024)));
        g.Outputs.Single(o => o.Name == "image_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 256, 4096));
        g.Outputs.Single(o => o.Name == "clip_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 256, 1024));
        g.Outputs.Single(o => o.Name == "sam_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 256, 1024));
    }

    [Fact]
    public void Layers_after_the_selected_hidden_state_are_pruned()
    {
        var g = VaryBuilder.Build(VaryConfig.Default);
        g.PruneUnused();
        g.Nodes.Should().NotContain(n => n.Outputs.Any(o => o.Name.Contains("encoder.layers.23.", StringComparison.Ordinal)));
        g.Nodes.Should().Contain(n => n.Outputs.Any(o => o.Name.Contains("encoder.layers.22.", StringComparison.Ordinal)));
    }

    [Fact]
    public void Inconsistent_configs_fail_with_the_field_named()
    {
        var bad = VaryConfig.Default with { Clip = new ClipConfig { ImageSize = 336 } };
        bad.Invoking(c => c.Validate()).Should().Throw<GraphException>().WithMessage("*256 tokens*576*");
        var arch = ArchitectureRegistry.Get("vary");
        arch.Invoking(a => a.Build(null, new BuildRequest(512))).Should().Throw<GraphException>().WithMessage("*fixed input sizes*512*");
    }

    [Fact]
    public void Registered_and_reads_fixture_json()
    {
        var arch = ArchitectureRegistry.Get("vary");
        using var doc = JsonDocument.Parse("""
            {"sam": {"image_size": 256, "embed_dim": 64, "depth": 2, "num_heads": 4, "window_size": 6, "global_attn_indexes": [1],
                     "neck_channels": 32, "net2_channels": 64, "net3_channels": 128},
             "clip": {"image_size": 56, "hidden_size": 96, "num_layers": 3, "num_heads": 4, "ffn_hidden_size": 384},
             "projector": {"clip_in": 96, "sam_in": 128, "output_dim_each": 80}, "vision_select_layer": -2}
            """);
        var g = arch.Build(doc.RootElement, arch.RequestForCase(doc.RootElement));
        g.Outputs.Single(o => o.Name == "image_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 16, 160));
    }
}
