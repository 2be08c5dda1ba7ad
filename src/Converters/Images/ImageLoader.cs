using System.Runtime.InteropServices;
using SkiaSharp;

namespace ModelForge.Converters.Images;

/// <summary>
/// Decodes PNG / JPEG (anything SkiaSharp's SKCodec reads) into 8-bit <see cref="RgbImage"/>, the way the Python
/// preprocessors see images after <c>ImageOps.exif_transpose(Image.open(f)).convert("RGB")</c>:
/// EXIF orientation applied, alpha dropped (not composited: PIL's RGBA -> RGB conversion simply discards it),
/// grey and palette images expanded, no colour management (PIL ignores embedded ICC profiles too).
/// </summary>
/// <remarks>
/// Every refusal is an <see cref="ImageFormatException"/> "&lt;file&gt;: &lt;defect&gt;": unrecognised or corrupt data,
/// truncated data (Skia's IncompleteInput, which would otherwise yield silently zero-filled rows), zero-sized images and
/// images above the pixel limit (<see cref="DefaultMaxPixels"/> unless the caller gives another), which is checked from
/// the header before any pixel memory is allocated.
/// </remarks>
public static class ImageLoader
{
    /// <summary>
    /// Default pixel limit: 178,956,970 = 2 x PIL's <c>Image.MAX_IMAGE_PIXELS</c> (89,478,485), the size above which PIL
    /// itself refuses an image as a decompression bomb. The decoded RGB image at the limit is 537 MB (3 bytes per pixel).
    /// </summary>
    public const long DefaultMaxPixels = 178_956_970;

    /// <summary>Largest encoded image file read (256 MiB; the biggest PNG/JPEG at the pixel limit is far smaller).</summary>
    public const long MaxEncodedBytes = 256L << 20;

    /// <summary>Reads and decodes an image file, refusing images of more than <paramref name="maxPixels"/> pixels.</summary>
    public static RgbImage Load(string path, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = IO.SafeFile.ReadAllBytes(path, MaxEncodedBytes, path);
        }
        catch (IO.InputFileException e)
        {
            string defect = IO.SafeFile.Defect(path) ?? e.Message.Replace(path + ": ", "", StringComparison.Ordinal);
            throw new ImageFormatException(path, defect, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException(path, $"cannot be read ({e.Message})", e);
        }

        return Decode(bytes, path, maxPixels);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="label"/> names it in error messages.</summary>
    /// <remarks>
    /// Memory: the upright RGB result (3 bytes per pixel) is the only full-size buffer. Decoders with top-down scanlines
    /// (JPEG) fill it row by row through one RGBA row; PNG (no scanline decoder in SkiaSharp) is decoded in horizontal bands
    /// of at most <see cref="BandBytes"/> RGBA (or an eighth of the image, whichever is larger), each band an incremental
    /// decode of a row subset, pixel for pixel the same as one whole decode. Only codecs with neither (none among PNG/JPEG)
    /// decode whole into RGBA first, and therefore get half the pixel budget. The encoded bytes are read in place.
    /// </remarks>
    /// <param name="encoded">The file's bytes.</param>
    /// <param name="label">Names the image in error messages.</param>
    /// <param name="maxPixels">Pixel limit, checked from the header.</param>
    /// <param name="bandBytes">Largest RGBA band of a banded decode (fewer bytes: more decode passes).</param>
    public static unsafe RgbImage Decode(
        ReadOnlySpan<byte> encoded, string label, long maxPixels = DefaultMaxPixels, long bandBytes = BandBytes)
    {
        ArgumentNullException.ThrowIfNull(label);
        long limit = maxPixels;
        if (encoded.IsEmpty)
        {
            throw new ImageFormatException(label, "file is empty (0 bytes)");
        }

        fixed (byte* data = encoded)
        {
            using var stream = new UnmanagedMemoryStream(data, encoded.Length);
            using var codec = SKCodec.Create(stream, out var createResult);
            if (codec is null)
            {
                throw new ImageFormatException(label, createResult switch
                {
                    SKCodecResult.IncompleteInput => "truncated image header",
                    SKCodecResult.Unimplemented => "unsupported image format",
                    _ => $"not a decodable image ({createResult})",
                });
            }

            // Header checks, before any pixel buffer exists.
            var info = codec.Info;
            if (info.Width <= 0 || info.Height <= 0)
            {
                throw new ImageFormatException(label, $"image has zero size ({info.Width}x{info.Height})");
            }

            long pixels = (long)info.Width * info.Height;
            if (pixels > limit)
            {
                throw new ImageFormatException(
                    label, $"image is {info.Width}x{info.Height} = {pixels:N0} pixels, above the limit of {limit:N0}");
            }

            // A cut file must not decode into a partial image: libjpeg fills the missing scans of a cut progressive JPEG
            // from the earlier ones and reports success, so the container's end marker is required as well.
            if (MissingEnd(encoded) is { } missing) throw new ImageFormatException(label, $"truncated image data ({missing})");

            var target = new Target(info.Width, info.Height, codec.EncodedOrigin);
            if ((Scanlines(codec, target, label) ?? Bands(codec, target, label, bandBytes)) is { } image) return image;

            // Codecs with neither decoder: one whole RGBA decode, so half the pixel budget at most.
            if (pixels > limit / 2)
            {
                throw new ImageFormatException(label, $"image is {info.Width}x{info.Height} = {pixels:N0} pixels in a format "
                    + $"that cannot be decoded in parts; above the limit of {limit / 2:N0} for such images");
            }

            return Whole(codec, target, label);
        }
    }

    /// <summary>Largest RGBA band of a banded decode (64 MiB), unless an eighth of the image is more.</summary>
    public const long BandBytes = 64L << 20;

    /// <summary>The stored size, the orientation and the upright RGB buffer being filled.</summary>
    private sealed class Target(int width, int height, SKEncodedOrigin origin)
    {
        public int Width { get; } = width;
        public int Height { get; } = height;
        public SKEncodedOrigin Origin { get; } = origin;
        public SKImageInfo Rgba { get; } = new(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        public bool Swap => Origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        public int UprightWidth => Swap ? Height : Width;
        public byte[]? Rgb { get; private set; }

        /// <summary>Stored row <paramref name="y"/> (RGBA) into the upright RGB buffer, allocated on first use.</summary>
        public void Put(ReadOnlySpan<byte> row, int y)
        {
            Rgb ??= new byte[checked((long)Width * Height * 3)];
            Place(row, y, Width, Height, UprightWidth, Origin, Rgb);
        }

        public RgbImage Image() => new(UprightWidth, Swap ? Width : Height, Rgb!);
    }

    /// <summary>Top-down scanline decoding through one RGBA row; null when the codec has no such decoder.</summary>
    private static unsafe RgbImage? Scanlines(SKCodec codec, Target target, string label)
    {
        if (codec.StartScanlineDecode(target.Rgba) != SKCodecResult.Success || codec.ScanlineOrder != SKCodecScanlineOrder.TopDown)
            return null;
        var row = new byte[checked(target.Width * 4)];
        fixed (byte* p = row)
        {
            for (int y = 0; y < target.Height; y++)
            {
                if (codec.GetScanlines((IntPtr)p, 1, row.Length) != 1)
                    throw new ImageFormatException(label, $"truncated or corrupt image data (row {y} of {target.Height})");
                target.Put(row, y);
            }
        }

        return target.Image();
    }

    /// <summary>
    /// Banded incremental decoding: rows [top, top + n) of the stored image into an RGBA band, one subset decode per band
    /// (each re-reads the data from its start, so at most 8 bands when the image is large); null when the codec cannot.
    /// </summary>
    private static unsafe RgbImage? Bands(SKCodec codec, Target target, string label, long maxBandBytes)
    {
        long rowBytes = target.Width * 4L;
        long bandBytes = Math.Max(maxBandBytes, rowBytes * ((target.Height + 7) / 8));
        int bandRows = (int)Math.Clamp(bandBytes / rowBytes, 1, target.Height);
        var band = (byte*)NativeMemory.Alloc((nuint)(bandRows * rowBytes));
        try
        {
            for (int top = 0; top < target.Height; top += bandRows)
            {
                int rows = Math.Min(bandRows, target.Height - top);
                var options = new SKCodecOptions(new SKRectI(0, top, target.Width, top + rows));
                var result = codec.StartIncrementalDecode(target.Rgba, (IntPtr)band, (int)rowBytes, options);
                if (top == 0 && result is SKCodecResult.Unimplemented or SKCodecResult.InvalidParameters) return null;
                if (result == SKCodecResult.Success) result = codec.IncrementalDecode(out _);
                if (result != SKCodecResult.Success)
                    throw new ImageFormatException(label, Defect(result) + $" (rows {top}..{top + rows - 1})");
                for (int y = 0; y < rows; y++)
                    target.Put(new ReadOnlySpan<byte>(band + y * rowBytes, (int)rowBytes), top + y);
            }
        }
        finally
        {
            NativeMemory.Free(band);
        }

        return target.Image();
    }

    /// <summary>One whole RGBA decode into native memory (freed before returning), then placed row by row.</summary>
    private static unsafe RgbImage Whole(SKCodec codec, Target target, string label)
    {
        long rowBytes = target.Width * 4L;
        var rgba = (byte*)NativeMemory.Alloc((nuint)(rowBytes * target.Height));
        try
        {
            var result = codec.GetPixels(target.Rgba, (IntPtr)rgba);
            if (result != SKCodecResult.Success) throw new ImageFormatException(label, Defect(result));
            for (int y = 0; y < target.Height; y++)
                target.Put(new ReadOnlySpan<byte>(rgba + y * rowBytes, (int)rowBytes), y);
        }
        finally
        {
            NativeMemory.Free(rgba);
        }

        return target.Image();
    }

    private static string Defect(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "truncated image data",
        SKCodecResult.ErrorInInput => "corrupt image data",
        _ => $"cannot decode pixels ({result})",
    };

    /// <summary>
    /// Why the encoded data lacks its end (JPEG: no EOI after the last start-of-scan; PNG: no IEND after the last IDAT),
    /// or null when it is complete. Entropy-coded JPEG data cannot contain FF D9 / FF DA (0xFF is always stuffed).
    /// </summary>
    private static string? MissingEnd(ReadOnlySpan<byte> data)
    {
        if (data.Length > 2 && data[0] == 0xFF && data[1] == 0xD8)
        {
            int sos = data.LastIndexOf([(byte)0xFF, (byte)0xDA]);
            if (sos < 0) return "JPEG without a start of scan";
            return data[sos..].IndexOf([(byte)0xFF, (byte)0xD9]) < 0 ? "JPEG end marker missing" : null;
        }
        if (data.Length > 8 && data[0] == 0x89 && data[1] == (byte)'P' && data[2] == (byte)'N' && data[3] == (byte)'G')
        {
            int idat = data.LastIndexOf("IDAT"u8);
            int iend = data.LastIndexOf("IEND"u8);
            return iend < 0 || iend < idat ? "PNG IEND chunk missing" : null;
        }
        return null;
    }

    /// <summary>
    /// Writes stored row <paramref name="sy"/> (RGBA, <paramref name="w"/> pixels) into the upright RGB image of width
    /// <paramref name="ow"/>, applying the EXIF orientation as PIL's exif_transpose does (see <see cref="Orient"/>).
    /// </summary>
    private static void Place(ReadOnlySpan<byte> row, int sy, int w, int h, int ow, SKEncodedOrigin origin, byte[] rgb)
    {
        for (int sx = 0; sx < w; sx++)
        {
            // Display position (x, y) of stored pixel (sx, sy): the inverse of Orient's mapping.
            var (x, y) = origin switch
            {
                SKEncodedOrigin.TopRight => (w - 1 - sx, sy),
                SKEncodedOrigin.BottomRight => (w - 1 - sx, h - 1 - sy),
                SKEncodedOrigin.BottomLeft => (sx, h - 1 - sy),
                SKEncodedOrigin.LeftTop => (sy, sx),
                SKEncodedOrigin.RightTop => (h - 1 - sy, sx),
                SKEncodedOrigin.RightBottom => (h - 1 - sy, w - 1 - sx),
                SKEncodedOrigin.LeftBottom => (sy, w - 1 - sx),
                _ => (sx, sy),
            };
            long o = ((long)y * ow + x) * 3;
            rgb[o] = row[sx * 4];
            rgb[o + 1] = row[sx * 4 + 1];
            rgb[o + 2] = row[sx * 4 + 2];
        }
    }

    /// <summary>
    /// Applies an EXIF orientation so the result is upright (PIL <c>ImageOps.exif_transpose</c>): 2 mirror, 3 rotate 180,
    /// 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
    /// </summary>
    public static RgbImage Orient(RgbImage image, SKEncodedOrigin origin)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width;
        int h = image.Height;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        if (origin == SKEncodedOrigin.TopLeft)
        {
            return image;
        }

        int ow = swap ? h : w;
        int oh = swap ? w : h;
        var dst = new byte[image.Pixels.Length];
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                // (sx, sy): the stored pixel that is displayed at (x, y).
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                Array.Copy(image.Pixels, (sy * w + sx) * 3, dst, (y * ow + x) * 3, 3);
            }
        }

        return new RgbImage(ow, oh, dst);
    }
}
