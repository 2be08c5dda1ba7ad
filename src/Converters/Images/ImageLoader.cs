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

        // Unpremultiplied RGBA with no colour space: raw channel values, alpha left separate so it can be dropped.
        var rgbaInfo = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[checked(pixels * 4)];
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(rgbaInfo, handle.AddrOfPinnedObject());
        }
        finally
        {
            handle.Free();
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

        var rgb = new byte[pixels * 3];
        for (long i = 0; i < pixels; i++)
        {
            rgb[i * 3] = rgba[i * 4];
            rgb[i * 3 + 1] = rgba[i * 4 + 1];
            rgb[i * 3 + 2] = rgba[i * 4 + 2];
        }

        return Orient(new RgbImage(info.Width, info.Height, rgb), codec.EncodedOrigin);
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
