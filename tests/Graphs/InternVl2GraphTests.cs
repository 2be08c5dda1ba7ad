using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.InternVl2;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Graphs;

public class InternVl2GraphTests
{
    [Fact]
    public void Released_config_is_InternViT_300M_448()
    {
        var v = InternVl2Config.Default.Vit;
        (v.HiddenSize, v.NumLayers, v.NumHeads, v.ImageSize, v.PatchSize, v.FfnHiddenSize).Should().Be((1024, 24, 16, 448, 14, 4096));
        InternVl2Config.Default.Mlp1.In.Should().Be(4096);
    }

    [Fact]
    public void Released_config_reads_the_released_vision_parameters()
    {
        var g = InternVl2Builder.Build(InternVl2Config.Default, 448);
        // InternViT-300M by hand: patch conv 1024*3*14*14 + 1024, class 1024, position table (1 + 32²)*1024, and per layer
        // qkv 3*1024² + 3072, proj 1024² + 1024, two norms 4*1024, ls1/ls2 2*1024, fc1 4096*1024 + 4096, fc2 1024*4096 + 1024.
        long layer = 3L * 1024 * 1024 + 3072 + 1024 * 1024 + 1024 + 4 * 1024 + 2 * 1024 + 4096L * 1024 + 4096 + 1024L * 4096 + 1024;
        long vit = 1024L * 3 * 14 * 14 + 1024 + 1024 + 1025L * 1024 + 24 * layer;
        vit.Should().Be(304_012_288);   // "InternViT-300M"
        // mlp1 (InternVL2-8B, hidden 4096): LayerNorm 2*4096, Linear 4096² + 4096, Linear 4096² + 4096.
        long mlp1 = 2 * 4096 + 2 * (4096L * 4096 + 4096);
        g.ParameterCount.Should().Be(vit + mlp1);
        g.DeclaredWeights.Should().ContainKey("vision_model.encoder.layers.23.ls2").WhoseValue.Should().Be(Shape.Known(1024));
        g.DeclaredWeights.Should().ContainKey("vision_model.embeddings.position_embedding").WhoseValue.Should()
            .Be(Shape.Known(1, 1025, 1024));
    }

    [Fact]
    public void A_448_tile_gives_256_tokens_on_the_tile_axis()
    {
        var g = InternVl2Builder.Build(InternVl2Config.Default, 448, "T");
        g.Inputs.Single().Shape.Should().Be(new Shape(Dim.Sym("T"), 3, 448, 448));
        g.Outputs.Single(o => o.Name == "image_features").Shape.Should().Be(new Shape(Dim.Sym("T"), 256, 4096));
        g.Outputs.Single(o => o.Name == "vit_last_hidden_state").Shape.Should().Be(new Shape(Dim.Sym("T"), 1025, 1024));
    }

    [Fact]
    public void Other_tile_sizes_resize_the_position_table_without_antialias()
    {
        var g = InternVl2Builder.Build(InternVl2Config.Default, 224);
        g.Outputs.Single(o => o.Name == "image_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 64, 4096));
        var resized = g.Initializers.Single(i
            => i.Value.Name.StartsWith("vision_model.embeddings.position_embedding.resized", StringComparison.Ordinal));
        resized.Value.Shape.Should().Be(Shape.Known(1, 257, 1024));
        ((DerivedData)resized.Data).Description.Should().Be("bicubic 32x32 -> 16x16 (class row kept)");
    }

    [Fact]
    public void Inconsistent_configs_and_sizes_fail_with_the_field_named()
    {
        var bad = InternVl2Config.Default with { Mlp1 = new InternVlMlpConfig { In = 1024 } };
        bad.Invoking(c => c.Validate()).Should().Throw<GraphException>().WithMessage("*mlp1.in 1024*4096*");
        var norm = InternVl2Config.Default with { Vit = new InternVitConfig { NormType = "batch_norm" } };
        norm.Invoking(c => c.Validate()).Should().Throw<GraphException>().WithMessage("*norm_type 'batch_norm'*");
        var odd = () => InternVl2Builder.Build(InternVl2Config.Default, 14 * 31);
        odd.Should().Throw<GraphException>().WithMessage("*434*pixel shuffle*");
    }

    [Fact]
    public void Registered_and_reads_fixture_json()
    {
        var arch = ArchitectureRegistry.Get("internvl2");
        using var doc = JsonDocument.Parse("""{"vit": {"image_size": 56, "hidden_size": 64, "num_layers": 1, "num_heads": """ +
            """4, "ffn_hidden_size": 256}, "mlp1": {"in": 256, "hidden": 96}}""");
        var g = arch.Build(doc.RootElement, arch.RequestForCase(JsonDocument.Parse("""{"image_size": 84}""").RootElement));
        g.Outputs.Single(o => o.Name == "image_features").Shape.Should().Be(new Shape(Dim.Sym("B"), 9, 96));
    }
}
