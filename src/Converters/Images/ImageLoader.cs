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
    /// itself refuses an image as a decompression bomb. About 512 MiB of RGBA decode buffer at the limit.
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
            throw new ImageFormatException(path, IO.SafeFile.Defect(path) ?? e.Message.Replace(path + ": ", "", StringComparison.Ordinal), e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException(path, $"cannot be read ({e.Message})", e);
        }

        return Decode(bytes, path, maxPixels);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="label"/> names it in error messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string label, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(label);
        long limit = maxPixels;
        if (encoded.IsEmpty)
        {
            throw new ImageFormatException(label, "file is empty (0 bytes)");
        }

        using var stream = new MemoryStream(encoded.ToArray(), writable: false);
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

        // Unpremultiplied RGBA with no colour space: raw channel values, alpha left separate so it can be dropped.
        var rgbaInfo = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var origin = codec.EncodedOrigin;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? info.Height : info.Width, oh = swap ? info.Width : info.Height;
        // The only full-size buffer: the upright RGB image, filled row by row (one RGBA row of scratch).
        var rgb = new byte[checked(pixels * 3)];
        var result = codec.StartScanlineDecode(rgbaInfo);
        if (result == SKCodecResult.Success && codec.ScanlineOrder == SKCodecScanlineOrder.TopDown)
        {
            var row = new byte[checked(info.Width * 4)];
            var handle = GCHandle.Alloc(row, GCHandleType.Pinned);
            try
            {
                for (int y = 0; y < info.Height; y++)
                {
                    if (codec.GetScanlines(handle.AddrOfPinnedObject(), 1, row.Length) != 1)
                        throw new ImageFormatException(label, $"truncated or corrupt image data (row {y} of {info.Height})");
                    Place(row, y, info.Width, info.Height, ow, origin, rgb);
                }
            }
            finally
            {
                handle.Free();
            }
            return new RgbImage(ow, oh, rgb);
        }

        // Decoders without top-down scanlines (interlaced PNG): one RGBA decode, so half the pixel budget at most.
        if (pixels > limit / 2)
            throw new ImageFormatException(label, $"image is {info.Width}x{info.Height} = {pixels:N0} pixels and interlaced; above the limit of {limit / 2:N0} for images that cannot be decoded row by row");
        var rgba = new byte[checked(pixels * 4)];
        var whole = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            result = codec.GetPixels(rgbaInfo, whole.AddrOfPinnedObject());
        }
        finally
        {
            whole.Free();
        }

        if (result != SKCodecResult.Success)
        {
            throw new ImageFormatException(label, result switch
            {
                SKCodecResult.IncompleteInput => "truncated image data",
                SKCodecResult.ErrorInInput => "corrupt image data",
                _ => $"cannot decode pixels ({result})",
            });
        }

        for (int y = 0; y < info.Height; y++) Place(rgba.AsSpan(y * info.Width * 4, info.Width * 4), y, info.Width, info.Height, ow, origin, rgb);
        return new RgbImage(ow, oh, rgb);
    }

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
