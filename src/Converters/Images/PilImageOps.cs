using ModelForge.Graphs.Numerics;

namespace ModelForge.Converters.Images;

/// <summary>
/// The few PIL operations the VLM preprocessors use, reproduced on <see cref="RgbImage"/>: <c>Image.resize</c> (BICUBIC),
/// <c>Image.crop</c>, <c>ImageOps.contain</c> and <c>ImageOps.pad</c>. Reference: Pillow src/PIL/Image.py and
/// src/PIL/ImageOps.py (Pillow 10+: pad centres with round((size - new) * 0.5), Python's half-to-even round).
/// </summary>
public static class PilImageOps
{
    /// <summary>PIL <c>image.resize((width, height))</c> with the default BICUBIC filter; same size returns a copy.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width == width && image.Height == height)
        {
            return new RgbImage(width, height, (byte[])image.Pixels.Clone());
        }

        var pixels = Resample.ResizePilRgb8(image.Pixels, image.Width, image.Height, width, height);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>PIL <c>image.crop((left, top, left + width, top + height))</c> for a box inside the image.</summary>
    public static RgbImage Crop(RgbImage image, int left, int top, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > image.Width || top + height > image.Height)
        {
            throw new ArgumentOutOfRangeException(
                nameof(left), $"crop box ({left},{top},{left + width},{top + height}) is not inside {image.Width}x{image.Height}");
        }

        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            Array.Copy(image.Pixels, ((top + y) * image.Width + left) * 3, pixels, y * width * 3, width * 3);
        }

        return new RgbImage(width, height, pixels);
    }

    /// <summary>
    /// <c>ImageOps.contain</c>: the largest aspect-preserving size inside (width, height). The shrunk side is
    /// round(other / this * target) with Python's round (half to even) on the double quotient, then a bicubic resize.
    /// </summary>
    public static RgbImage Contain(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (w, h) = ContainSize(image.Width, image.Height, width, height);
        return Resize(image, w, h);
    }

    /// <summary>The size <see cref="Contain"/> resizes to.</summary>
    public static (int Width, int Height) ContainSize(int imageWidth, int imageHeight, int width, int height)
    {
        double imageRatio = (double)imageWidth / imageHeight;
        double destRatio = (double)width / height;
        if (imageRatio > destRatio)
        {
            height = (int)Math.Round((double)imageHeight / imageWidth * width, MidpointRounding.ToEven);
        }
        else if (imageRatio < destRatio)
        {
            width = (int)Math.Round((double)imageWidth / imageHeight * height, MidpointRounding.ToEven);
        }

        return (width, height);
    }

    /// <summary>
    /// <c>ImageOps.pad(image, (width, height), color=fill)</c> with centering (0.5, 0.5): <see cref="Contain"/>, then paste
    /// onto a canvas of <paramref name="fill"/> at round((size - resized) * 0.5) (half to even) along the padded axis.
    /// </summary>
    public static RgbImage Pad(RgbImage image, int width, int height, (byte R, byte G, byte B) fill)
    {
        var resized = Contain(image, width, height);
        if (resized.Width == width && resized.Height == height)
        {
            return resized;
        }

        var canvas = RgbImage.Filled(width, height, fill.R, fill.G, fill.B);
        int x = resized.Width != width ? (int)Math.Round((width - resized.Width) * 0.5, MidpointRounding.ToEven) : 0;
        int y = resized.Width != width ? 0 : (int)Math.Round((height - resized.Height) * 0.5, MidpointRounding.ToEven);
        for (int row = 0; row < resized.Height; row++)
        {
            Array.Copy(resized.Pixels, row * resized.Width * 3, canvas.Pixels, ((y + row) * width + x) * 3, resized.Width * 3);
        }

        return canvas;
    }

    /// <summary>
    /// torchvision <c>ToTensor()</c> + <c>Normalize(mean, std)</c>: float32 CHW, (p / 255 - mean[c]) / std[c] evaluated in
    /// float32 in that order, as torch does. Returns [3, Height, Width] row-major.
    /// </summary>
    public static float[] ToNormalizedChw(RgbImage image, ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (mean.Length != 3 || std.Length != 3)
        {
            throw new ArgumentException("mean and std need one value per RGB channel");
        }

        int plane = image.Width * image.Height;
        var dst = new float[3 * plane];
        var src = image.Pixels;
        for (int c = 0; c < 3; c++)
        {
            float m = mean[c];
            float s = std[c];
            for (int i = 0; i < plane; i++)
            {
                float v = src[i * 3 + c] / 255f;
                dst[c * plane + i] = (v - m) / s;
            }
        }

        return dst;
    }
}
