using FluentAssertions;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Graphs;

public class DeepEncoderGraphTests
{
    [Fact]
    public void Released_config_reads_the_released_vision_parameters()
    {
        var g = DeepEncoderBuilder.Build(DeepEncoderConfig.Default, new DeepEncoderBuildOptions(1024));
        // 401,369,600 in model.sam_model/vision_model/projector, less CLIP's unused patch embedding (1024*3*14*14),
        // plus image_newline and view_seperator (1280 each).
        g.ParameterCount.Should().Be(401_369_600 - 602_112 + 2 * 1280);
        g.DeclaredWeights.Should().ContainKey("sam_model.blocks.11.attn.rel_pos_h").WhoseValue.Should().Be(Shape.Known(127, 64));
        g.DeclaredWeights.Should().ContainKey("sam_model.blocks.0.attn.rel_pos_h").WhoseValue.Should().Be(Shape.Known(27, 64));
        g.DeclaredWeights.Keys.Should().NotContain(k => k.Contains("patch_embedding"));
    }

    [Theory]
    [InlineData(512, 73)]
    [InlineData(640, 111)]
    [InlineData(1024, 273)]
    [InlineData(1280, 421)]
    public void Mode_sizes_give_the_documented_token_counts(int size, int tokens)
    {
        var g = DeepEncoderBuilder.Build(DeepEncoderConfig.Default, new DeepEncoderBuildOptions(size));
        var layout = g.Outputs.Single(o => o.Name == "global_view_tokens");
        layout.Shape.Should().Be(new Shape(Dim.Sym("B"), tokens, 1280));
    }

    [Fact]
    public void Gundam_token_count_for_a_2x3_tiling_is_903()
    {
        var c = DeepEncoderConfig.Default;
        DeepSeekOcrTokenLayout.TokenCount(c.Grids(1024).ClipGrid, c.Grids(640).ClipGrid, 2, 3).Should().Be(903);
    }

    [Fact]
    public void Mosaic_puts_tile_rows_side_by_side_with_a_newline_per_row()
    {
        // 2 tiles wide, 1 high, tile grid 2x2, P = 1: tile k's token (r, c) holds 10k + 2r + c.
        float[] local = [0, 1, 2, 3, 10, 11, 12, 13];
        float[] global = [100, 101, 102];
        var tokens = DeepSeekOcrTokenLayout.Assemble(global, local, tileGrid: 2, tilesWide: 2, tilesHigh: 1, newline: [-1f], p: 1);
        tokens.Should().Equal(0, 1, 10, 11, -1, 2, 3, 12, 13, -1, 100, 101, 102);
    }

    [Fact]
    public void Inconsistent_configs_fail_with_the_field_named()
    {
        var bad = DeepEncoderConfig.Default with { Projector = new ProjectorConfig { InputDim = 1000 } };
        var act = () => DeepEncoderBuilder.Build(bad, new DeepEncoderBuildOptions(1024));
        act.Should().Throw<GraphException>().WithMessage("*projector.input_dim 1000*");
        var size = () => DeepEncoderBuilder.Build(DeepEncoderConfig.Default, new DeepEncoderBuildOptions(1000));
        size.Should().Throw<GraphException>().WithMessage("*image size 1000*multiple*16*");
    }

    [Fact]
    public void Scaled_modes_fit_the_tiny_fixture_config()
    {
        DeepSeekOcrMode.Gundam.Scaled(256, 16).Should().Be(new DeepSeekOcrMode("gundam", 256, 160));
        DeepSeekOcrMode.Tiny.Scaled(256, 16).BaseSize.Should().Be(128);
        DeepSeekOcrMode.Large.Scaled(256, 16).BaseSize.Should().Be(320);
    }
}
