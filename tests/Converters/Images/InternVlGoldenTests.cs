using FluentAssertions;
using ModelForge.Converters.Images;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Converters.Images;

/// <summary>InternVL dynamic_preprocess against the original's tile pixels and tile counts.</summary>
public class InternVlGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Tiles_and_thumbnail_match_the_original_within_one_grey_level(int index)
    {
        var c = PreprocessGolden.Json("preprocess.json").GetProperty("internvl")[index];
        var source = PreprocessGolden.Image(c.GetProperty("image").GetString()!);
        var (tiles, _, _) = InternVlPreprocessor.Preprocess(
            source,
            c.GetProperty("min_num").GetInt32(),
            c.GetProperty("max_num").GetInt32(),
            c.GetProperty("image_size").GetInt32(),
            c.GetProperty("use_thumbnail").GetBoolean());
        var files = c.GetProperty("tiles");
        tiles.Should().HaveCount(files.GetArrayLength());
        for (int t = 0; t < tiles.Count; t++)
        {
            var file = files[t].GetString()!;
            var golden = PreprocessGolden.Image(file);
            int diff = PreprocessGolden.MaxDifference(tiles[t], golden);
            output.WriteLine($"{file}: max |diff| = {diff}, values differing = {PreprocessGolden.CountDifferent(tiles[t], golden)}");
            diff.Should().BeLessThanOrEqualTo(1, file);
        }
    }

    [Fact]
    public void Every_tile_count_matches_the_original()
    {
        var cases = PreprocessGolden.Json("tiling.json").GetProperty("internvl_tiles");
        var wrong = new List<string>();
        foreach (var c in cases.EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32();
            int h = c.GetProperty("height").GetInt32();
            int actual = InternVlPreprocessor.CountTiles(
                w, h, c.GetProperty("min_num").GetInt32(), c.GetProperty("max_num").GetInt32(),
                c.GetProperty("image_size").GetInt32(), c.GetProperty("use_thumbnail").GetBoolean());
            if (actual != c.GetProperty("tiles").GetInt32())
            {
                wrong.Add($"{w}x{h}: {actual} != {c.GetProperty("tiles").GetInt32()}");
            }
        }

        output.WriteLine($"{cases.GetArrayLength()} decisions checked");
        wrong.Should().BeEmpty();
    }

    [Fact]
    public void Normalisation_uses_imagenet_mean_and_std()
    {
        var t = InternVlPreprocessor.Normalize(new RgbImage(1, 1, [0, 255, 124]));
        t[0].Should().BeApproximately(-0.485f / 0.229f, 1e-6f);
        t[1].Should().BeApproximately((1f - 0.456f) / 0.224f, 1e-6f);
        t[2].Should().BeApproximately((124f / 255f - 0.406f) / 0.225f, 1e-6f);
    }
}
