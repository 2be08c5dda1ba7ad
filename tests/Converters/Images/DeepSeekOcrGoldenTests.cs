using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Converters.Images;

/// <summary>DeepSeek-OCR preprocessing against the pixels and decisions of the original Python processor (real PIL).</summary>
public class DeepSeekOcrGoldenTests(ITestOutputHelper output)
{
    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        int n = PreprocessGolden.Json("preprocess.json").GetProperty("deepseek_ocr").GetArrayLength();
        for (int i = 0; i < n; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Global_view_and_tiles_match_the_original_within_one_grey_level(int index)
    {
        var c = PreprocessGolden.Json("preprocess.json").GetProperty("deepseek_ocr")[index];
        var mode = DeepSeekOcrMode.Parse(c.GetProperty("mode").GetString()!);
        mode.BaseSize.Should().Be(c.GetProperty("base_size").GetInt32());
        mode.ImageSize.Should().Be(c.GetProperty("image_size").GetInt32());

        var source = PreprocessGolden.Image(c.GetProperty("image").GetString()!);
        var result = DeepSeekOcrPreprocessor.Preprocess(source, mode);

        var globalFile = c.GetProperty("global_view").GetString()!;
        int globalDiff = PreprocessGolden.MaxDifference(result.Global, PreprocessGolden.Image(globalFile));
        output.WriteLine($"{globalFile}: max |diff| = {globalDiff}, values differing = "
            + PreprocessGolden.CountDifferent(result.Global, PreprocessGolden.Image(globalFile)));
        globalDiff.Should().BeLessThanOrEqualTo(1, globalFile);

        if (c.TryGetProperty("tiles", out var tiles))
        {
            var grid = c.GetProperty("tiles_grid");
            (result.TilesWide, result.TilesHigh).Should().Be((grid[0].GetInt32(), grid[1].GetInt32()));
            result.Tiles.Should().HaveCount(tiles.GetArrayLength());
            for (int t = 0; t < tiles.GetArrayLength(); t++)
            {
                var file = tiles[t].GetString()!;
                var golden = PreprocessGolden.Image(file);
                int diff = PreprocessGolden.MaxDifference(result.Tiles[t], golden);
                output.WriteLine($"{file}: max |diff| = {diff}, values differing = " +
                    $"{PreprocessGolden.CountDifferent(result.Tiles[t], golden)}");
                diff.Should().BeLessThanOrEqualTo(1, file);
            }
        }
        else
        {
            result.Tiles.Should().BeEmpty();
            (result.TilesWide, result.TilesHigh).Should().Be((1, 1));
        }
    }

    [Fact]
    public void Every_count_tiles_decision_matches_the_original()
    {
        var cases = PreprocessGolden.Json("tiling.json").GetProperty("deepseek_ocr_tiles");
        var wrong = new List<string>();
        foreach (var c in cases.EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32();
            int h = c.GetProperty("height").GetInt32();
            int min = c.GetProperty("min_num").GetInt32();
            int max = c.GetProperty("max_num").GetInt32();
            var expected = (c.GetProperty("grid")[0].GetInt32(), c.GetProperty("grid")[1].GetInt32());
            var actual = DeepSeekOcrPreprocessor.CountTiles(w, h, min, max, c.GetProperty("image_size").GetInt32());
            if (actual != expected)
            {
                wrong.Add($"{w}x{h} [{min},{max}]: {actual} != {expected}");
            }
        }

        output.WriteLine($"{cases.GetArrayLength()} decisions checked");
        cases.GetArrayLength().Should().BeGreaterThan(100);
        wrong.Should().BeEmpty();
    }

    [Fact]
    public void Normalisation_maps_0_127_255_to_minus_one_about_zero_and_one()
    {
        var img = new RgbImage(3, 1, [0, 0, 0, 127, 127, 127, 255, 255, 255]);
        var t = DeepSeekOcrPreprocessor.Normalize(img);
        t.Should().HaveCount(9);
        t[0].Should().Be(-1f);
        t[2].Should().Be(1f);
        t[1].Should().BeApproximately(127f / 255f * 2f - 1f, 1e-7f);
        t[3 + 2].Should().Be(1f); // channel 1 plane starts at 3
    }

    [Theory]
    [InlineData("tiny", 512, 512, false)]
    [InlineData("SMALL", 640, 640, false)]
    [InlineData("base", 1024, 1024, false)]
    [InlineData("large", 1280, 1280, false)]
    [InlineData("gundam", 1024, 640, true)]
    [InlineData("gundam-m", 1280, 1024, true)]
    public void Modes_parse_by_name(string name, int baseSize, int imageSize, bool crop)
    {
        var m = DeepSeekOcrMode.Parse(name);
        (m.BaseSize, m.ImageSize, m.Crop).Should().Be((baseSize, imageSize, crop));
    }

    [Fact]
    public void Unknown_mode_lists_the_valid_ones()
    {
        var act = () => DeepSeekOcrMode.Parse("huge");
        act.Should().Throw<ArgumentException>().WithMessage("*'huge'*tiny, small, base, large, gundam, gundam-m*");
    }

    [Fact]
    public void Small_images_are_never_tiled_even_in_gundam_mode_and_are_square_resized()
    {
        // Both sides <= 640: no tiles; the global view is the 640x640 square resize scaled to 1024 (no grey bars).
        var r = DeepSeekOcrPreprocessor.Preprocess(RgbImage.Filled(640, 300, 10, 20, 30), DeepSeekOcrMode.Gundam);
        r.Tiles.Should().BeEmpty();
        (r.Global.Width, r.Global.Height).Should().Be((1024, 1024));
        r.Global[0, 0, 0].Should().Be(10);
        r.Global[512, 512, 2].Should().Be(30);

        // One side > 640 in a crop mode: tiles, and the global view keeps the aspect ratio with grey bars.
        var big = DeepSeekOcrPreprocessor.Preprocess(RgbImage.Filled(1300, 600, 10, 20, 30), DeepSeekOcrMode.Gundam);
        big.Tiles.Should().HaveCount(big.TilesWide * big.TilesHigh).And.NotBeEmpty();
        big.Global[512, 0, 0].Should().Be(127);
        big.Global[512, 512, 0].Should().Be(10);
    }

    [Fact]
    public void Base_mode_pads_a_tall_image_at_round_half_even_offsets()
    {
        // 700x1000 -> contain 717x1024 (round(0.7 * 1024) = round(716.8)); x offset round(307 * 0.5) = round(153.5) = 154.
        var r = DeepSeekOcrPreprocessor.Preprocess(RgbImage.Filled(700, 1000, 200, 200, 200), DeepSeekOcrMode.Base);
        r.Global[153, 500, 0].Should().Be(127);
        r.Global[154, 500, 0].Should().Be(200);
        r.Global[154 + 716, 500, 0].Should().Be(200);
        r.Global[154 + 717, 500, 0].Should().Be(127);
    }
}
