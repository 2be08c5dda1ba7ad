namespace ModelForge.Converters.Images;

/// <summary>
/// An 8-bit RGB image, pixels stored row-major HWC (interleaved): index of (x, y, channel) = (y * Width + x) * 3 + channel.
/// This is the layout PIL's "RGB" mode exposes and the one the preprocessors' reference outputs were taken from.
/// </summary>
/// <param name="Width">Width in pixels (&gt; 0).</param>
/// <param name="Height">Height in pixels (&gt; 0).</param>
/// <param name="Pixels">Width * Height * 3 bytes.</param>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    /// <summary>Width * Height * 3 bytes, checked at construction.</summary>
    public byte[] Pixels { get; } = Check(Width, Height, Pixels);

    /// <summary>A new image filled with one colour.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var pixels = new byte[checked(width * height * 3)];
        for (int i = 0; i < pixels.Length; i += 3)
        {
            pixels[i] = r;
            pixels[i + 1] = g;
            pixels[i + 2] = b;
        }

        return new RgbImage(width, height, pixels);
    }

    /// <summary>Channel value at (x, y, channel).</summary>
    public byte this[int x, int y, int channel] => Pixels[((y * Width) + x) * 3 + channel];

    private static byte[] Check(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (pixels.Length != (long)width * height * 3)
        {
            throw new ArgumentException($"RGB image {width}x{height} needs {(long)width * height * 3} bytes, got {pixels.Length}",
                nameof(pixels));
        }

        return pixels;
    }
}
