namespace ModelForge.Converters.Images;

/// <summary>
/// Qwen2-VL's <c>smart_resize</c> (transformers image_processing_qwen2_vl.py): the size an image is resized to before
/// patching, both sides multiples of factor = patch_size * merge_size (28), the pixel count kept within
/// [min_pixels, max_pixels] (released preprocessor_config.json: 3136 and 12845056), aspect ratio roughly kept.
/// Python's round() is round-half-to-even, as <see cref="Math.Round(double)"/>.
/// </summary>
public static class Qwen2VlSmartResize
{
    /// <summary>Released Qwen2-VL preprocessor_config.json min_pixels (56*56).</summary>
    public const int ReleasedMinPixels = 3136;

    /// <summary>Released Qwen2-VL preprocessor_config.json max_pixels (16384 * 28 * 28).</summary>
    public const int ReleasedMaxPixels = 12845056;

    /// <summary>(resized height, resized width) for an image of this size.</summary>
    public static (int Height, int Width) Resize(int height, int width, int factor = 28, int minPixels = ReleasedMinPixels,
        int maxPixels = ReleasedMaxPixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if ((double)Math.Max(height, width) / Math.Min(height, width) > 200)
            throw new ArgumentException($"image {width}x{height}: Qwen2-VL refuses an aspect ratio above 200");
        long hBar = (long)Math.Round((double)height / factor) * factor;
        long wBar = (long)Math.Round((double)width / factor) * factor;
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)height * width / maxPixels);
            hBar = Math.Max(factor, (long)Math.Floor(height / beta / factor) * factor);
            wBar = Math.Max(factor, (long)Math.Floor(width / beta / factor) * factor);
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt((double)minPixels / ((double)height * width));
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
        }
        return ((int)hBar, (int)wBar);
    }

    /// <summary>Vision tokens of one image: (H/patch) * (W/patch) patches folded merge² to one.</summary>
    public static int Tokens(int height, int width, int patch = 14, int merge = 2, int minPixels = ReleasedMinPixels,
        int maxPixels = ReleasedMaxPixels)
    {
        var (h, w) = Resize(height, width, patch * merge, minPixels, maxPixels);
        return h / patch * (w / patch) / (merge * merge);
    }
}
