using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using FluentAssertions;
using ModelForge.Converters.Images;
using SkiaSharp;
using Xunit;

namespace ModelForge.Tests.Converters.Images;

public sealed class ImageLoaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "modelforge-imageloader-" + Guid.NewGuid().ToString("N"));

    public ImageLoaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Loads_the_golden_png_as_rgb()
    {
        var img = ImageLoader.Load(PreprocessGolden.PathOf("small_300x200.png"));
        (img.Width, img.Height).Should().Be((300, 200));
        img.Pixels.Should().HaveCount(300 * 200 * 3);
    }

    [Fact]
    public void Truncated_png_is_refused_naming_the_file()
    {
        var bytes = File.ReadAllBytes(PreprocessGolden.PathOf("small_300x200.png"));
        var path = Write("truncated.png", bytes.AsSpan(0, bytes.Length / 2).ToArray());
        Refusal(path).Should().StartWith(path + ": ").And.Contain("truncated");
    }

    [Fact]
    public void Empty_file_is_refused()
    {
        var path = Write("empty.png", []);
        Refusal(path).Should().Be(path + ": file is empty (0 bytes)");
    }

    [Fact]
    public void Garbage_is_refused()
    {
        var path = Write("garbage.jpg", Encoding.ASCII.GetBytes("this is not an image, just some text pretending to be one"));
        Refusal(path).Should().StartWith(path + ": ");
    }

    [Fact]
    public void Corrupt_image_data_is_refused()
    {
        // A valid header and a deflate stream of the wrong content: the rows cannot be decoded.
        var path = Write("corrupt.png", Png(8, 8, colorType: 2, Encoding.ASCII.GetBytes("not zlib at all, not zlib at all")));
        Refusal(path).Should().StartWith(path + ": ");
    }

    [Fact]
    public void Huge_declared_dimensions_are_refused_from_the_header_before_decoding()
    {
        // IHDR says 100000 x 100000 (10^10 pixels, 40 GB as RGBA); the data is a few bytes, so only a header check can
        // answer with the size (a decode attempt would fail on memory or on the missing data instead).
        var path = Write("huge.png", Png(100_000, 100_000, colorType: 2, Deflate(new byte[16])));
        Refusal(path).Should().StartWith(path + ": ").And.Contain("100000x100000").And.Contain("above the limit");
    }

    [Fact]
    public void The_pixel_limit_can_be_lowered_per_call()
    {
        var bytes = File.ReadAllBytes(PreprocessGolden.PathOf("small_300x200.png"));
        var act = () => ImageLoader.Decode(bytes, "small", maxPixels: 50_000);
        act.Should().Throw<ImageFormatException>().WithMessage("small: image is 300x200 = 60,000 pixels, above the limit of 50,000");
    }

    [Fact]
    public void Alpha_is_dropped_not_composited_and_grey_is_expanded()
    {
        // RGBA pixel (10, 200, 30, alpha 0): PIL's convert("RGB") keeps (10, 200, 30); premultiplying would give black.
        var rgba = Png(1, 1, colorType: 6, Deflate([0, 10, 200, 30, 0]));
        ImageLoader.Decode(rgba, "rgba").Pixels.Should().Equal(10, 200, 30);

        var grey = Png(2, 1, colorType: 0, Deflate([0, 7, 250]));
        ImageLoader.Decode(grey, "grey").Pixels.Should().Equal(7, 7, 7, 250, 250, 250);
    }

    [Theory]
    [InlineData(SKEncodedOrigin.TopLeft, 3, 2, new byte[] { 1, 2, 3, 4, 5, 6 })]
    [InlineData(SKEncodedOrigin.TopRight, 3, 2, new byte[] { 3, 2, 1, 6, 5, 4 })]
    [InlineData(SKEncodedOrigin.BottomRight, 3, 2, new byte[] { 6, 5, 4, 3, 2, 1 })]
    [InlineData(SKEncodedOrigin.BottomLeft, 3, 2, new byte[] { 4, 5, 6, 1, 2, 3 })]
    [InlineData(SKEncodedOrigin.LeftTop, 2, 3, new byte[] { 1, 4, 2, 5, 3, 6 })]
    [InlineData(SKEncodedOrigin.RightTop, 2, 3, new byte[] { 4, 1, 5, 2, 6, 3 })]
    [InlineData(SKEncodedOrigin.RightBottom, 2, 3, new byte[] { 6, 3, 5, 2, 4, 1 })]
    [InlineData(SKEncodedOrigin.LeftBottom, 2, 3, new byte[] { 3, 6, 2, 5, 1, 4 })]
    public void Exif_orientation_gives_the_upright_image(SKEncodedOrigin origin, int w, int h, byte[] expected)
    {
        // Stored 3x2 image with red channel 1 2 3 / 4 5 6. RightTop (EXIF 6) is displayed rotated 90 degrees clockwise:
        // the left column read bottom-up becomes the top row (4 1), as PIL's exif_transpose (ROTATE_270) does.
        var stored = new RgbImage(3, 2, [.. new byte[] { 1, 2, 3, 4, 5, 6 }.SelectMany(v => new byte[] { v, 0, 0 })]);
        var upright = ImageLoader.Orient(stored, origin);
        (upright.Width, upright.Height).Should().Be((w, h));
        upright.Pixels.Where((_, i) => i % 3 == 0).Should().Equal(expected);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_png_decoded_in_bands_is_the_exact_image(bool interlaced)
    {
        // PNG has no scanline decoder in SkiaSharp, so ImageLoader decodes row subsets ("bands"). bandBytes 1 makes each
        // band an eighth of the image (27 of 211 rows): 8 subset decodes, each crossing "Up"-filtered rows whose unfiltering
        // needs the row above, or (Adam7) the passes of every band.
        const int w = 123, h = 211;
        var rgb = new byte[w * h * 3];
        new Random(5).NextBytes(rgb);
        var png = Png(w, h, colorType: 2, Deflate(interlaced ? Adam7(rgb, w, h) : UpFiltered(rgb, w, h)), interlaced);
        ImageLoader.Decode(png, "banded.png", bandBytes: 1).Pixels.Should().Equal(rgb);
        ImageLoader.Decode(png, "one-band.png").Pixels.Should().Equal(rgb);
    }

    [Fact]
    public void A_lossless_webp_decodes_to_its_pixels()
    {
        // Neither PNG nor JPEG: whichever decoder path SkiaSharp's WebP codec allows, the pixels must be exact.
        const int w = 37, h = 29;
        var rgb = new byte[w * h * 3];
        new Random(11).NextBytes(rgb);
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int i = 0; i < w * h; i++)
            bitmap.SetPixel(i % w, i / w, new SKColor(rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]));
        using var pixmap = bitmap.PeekPixels() ?? throw new InvalidOperationException("no pixmap");
        using var webp = pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100))
            ?? throw new InvalidOperationException("WebP encoding failed");
        ImageLoader.Decode(webp.ToArray(), "lossless.webp").Pixels.Should().Equal(rgb);
    }

    /// <summary>PNG scanlines with filter type 2 (Up): each byte minus the byte above it (zero above the first row).</summary>
    private static byte[] UpFiltered(byte[] rgb, int w, int h)
    {
        int row = w * 3;
        var raw = new byte[h * (row + 1)];
        for (int y = 0; y < h; y++)
        {
            raw[y * (row + 1)] = 2;
            for (int i = 0; i < row; i++)
                raw[y * (row + 1) + 1 + i] = (byte)(rgb[y * row + i] - (y > 0 ? rgb[(y - 1) * row + i] : 0));
        }

        return raw;
    }

    /// <summary>Adam7 scanlines (PNG spec 8.2): 7 passes of sub-images, each row with filter type 0.</summary>
    private static byte[] Adam7(byte[] rgb, int w, int h)
    {
        (int X, int Y, int Dx, int Dy)[] passes =
            [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
        var raw = new List<byte>();
        foreach (var (x0, y0, dx, dy) in passes)
        {
            if (x0 >= w || y0 >= h) continue;
            for (int y = y0; y < h; y += dy)
            {
                raw.Add(0);
                for (int x = x0; x < w; x += dx) raw.AddRange(rgb.AsSpan((y * w + x) * 3, 3).ToArray());
            }
        }

        return [.. raw];
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Refusal(string path)
    {
        var act = () => ImageLoader.Load(path);
        return act.Should().Throw<ImageFormatException>().Which.Message;
    }

    /// <summary>A PNG file from an IHDR (8-bit, given colour type) and one IDAT payload, with valid CRCs.</summary>
    internal static byte[] Png(int width, int height, byte colorType, byte[] idat, bool interlaced = false)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = colorType;
        ihdr[12] = interlaced ? (byte)1 : (byte)0;
        using var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(ms, "IHDR", ihdr);
        Chunk(ms, "IDAT", idat);
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> be = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, data.Length);
        s.Write(be);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(be, Crc32(typed));
        s.Write(be);
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }
        }

        return ~c;
    }

    internal static byte[] Deflate(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(raw);
        }

        return ms.ToArray();
    }
}
