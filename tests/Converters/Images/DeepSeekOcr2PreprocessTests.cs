using FluentAssertions;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using Xunit;

namespace ModelForge.Tests.Converters.Images;

/// <summary>DeepSeek-OCR 2's processor rules (process/image_process.py) at the released sizes: 1024 global view, 768 crops.</summary>
public class DeepSeekOcr2PreprocessTests
{
    private static RgbImage Gradient(int w, int h)
    {
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    px[(y * w + x) * 3 + c] = (byte)((x * 7 + y * 3 + c * 50) % 200 + 20);   // never the pad grey 127 at the corners
        return new RgbImage(w, h, px);
    }

    [Theory]
    [InlineData(768, 768)]
    [InlineData(300, 200)]
    [InlineData(768, 500)]
    public void No_crops_at_or_below_768_and_the_global_view_keeps_the_aspect(int w, int h)
    {
        var r = DeepSeekOcr2Preprocessor.Preprocess(Gradient(w, h), DeepSeekOcr2Mode.Gundam);
        r.Tiles.Should().BeEmpty();
        (r.TilesWide, r.TilesHigh).Should().Be((1, 1));
        (r.Global.Width, r.Global.Height).Should().Be((1024, 1024));
        if (w > h)   // ImageOps.pad: grey bars above and below a wide image (crop mode does no square resize first)
            Enumerable.Range(0, 3).Select(c => r.Global[512, 0, c]).Should().AllBeEquivalentTo(DeepSeekOcrPreprocessor.PadValue);
    }

    [Theory]
    [InlineData(769, 500)]
    [InlineData(1600, 900)]
    [InlineData(700, 1000)]
    [InlineData(4000, 300)]
    public void Above_768_the_image_is_cut_into_2_to_6_crops_of_768(int w, int h)
    {
        var r = DeepSeekOcr2Preprocessor.Preprocess(Gradient(w, h), DeepSeekOcr2Mode.Gundam);
        r.Tiles.Count.Should().Be(r.TilesWide * r.TilesHigh).And.BeInRange(2, 6);
        (r.TilesWide, r.TilesHigh).Should().Be(TileGrid.Choose(w, h, 2, 6, 768));
        r.Tiles.Should().OnlyContain(t => t.Width == 768 && t.Height == 768);
        (r.Global.Width, r.Global.Height).Should().Be((1024, 1024));
        if (w > h) r.TilesWide.Should().BeGreaterThanOrEqualTo(r.TilesHigh);
    }

    [Fact]
    public void Base_mode_never_crops_and_resizes_to_a_768_square_first()
    {
        var r = DeepSeekOcr2Preprocessor.Preprocess(Gradient(1600, 900), DeepSeekOcr2Mode.Base);
        r.Tiles.Should().BeEmpty();
        // The square 768 resize leaves no pad bars: the padded 1024 view is image content everywhere.
        const byte grey = DeepSeekOcrPreprocessor.PadValue;
        Enumerable.Range(0, 3).Select(c => r.Global[512, 0, c]).Should().NotEqual([grey, grey, grey]);
        var direct = PilImageOps.Pad(PilImageOps.Resize(Gradient(1600, 900), 768, 768), 1024, 1024, (127, 127, 127));
        r.Global.Pixels.Should().Equal(direct.Pixels);
    }

    [Fact]
    public void Scaled_views_follow_the_config()
    {
        var mode = DeepSeekOcr2Mode.Gundam.For(new ViewsConfig { BaseSize = 64, ImageSize = 48 });
        var small = DeepSeekOcr2Preprocessor.Preprocess(Gradient(48, 40), mode);
        (small.Tiles.Count, small.Global.Width).Should().Be((0, 64));
        var big = DeepSeekOcr2Preprocessor.Preprocess(Gradient(100, 49), mode);
        big.Tiles.Should().NotBeEmpty().And.OnlyContain(t => t.Width == 48);
    }
}
