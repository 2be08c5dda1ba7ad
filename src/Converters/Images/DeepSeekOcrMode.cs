namespace ModelForge.Converters.Images;

/// <summary>
/// A DeepSeek-OCR resolution mode (README of deepseek-ai/DeepSeek-OCR, config.py BASE_SIZE / IMAGE_SIZE / CROP_MODE).
/// </summary>
/// <param name="Name">Mode name as users type it (tiny, small, base, large, gundam, gundam-m).</param>
/// <param name="BaseSize">Side of the padded global view.</param>
/// <param name="ImageSize">Side of one tile (and of the square pre-resize of the small modes).</param>
/// <param name="Crop">Whether large images are also cut into tiles (the "gundam" modes).</param>
public sealed record DeepSeekOcrMode(string Name, int BaseSize, int ImageSize, bool Crop)
{
    /// <summary>Tiny: 512x512 global view only.</summary>
    public static DeepSeekOcrMode Tiny { get; } = new("tiny", 512, 512, false);

    /// <summary>Small: 640x640 global view only.</summary>
    public static DeepSeekOcrMode Small { get; } = new("small", 640, 640, false);

    /// <summary>Base: 1024x1024 padded global view only.</summary>
    public static DeepSeekOcrMode Base { get; } = new("base", 1024, 1024, false);

    /// <summary>Large: 1280x1280 padded global view only.</summary>
    public static DeepSeekOcrMode Large { get; } = new("large", 1280, 1280, false);

    /// <summary>Gundam: 640x640 tiles plus a 1024x1024 padded global view.</summary>
    public static DeepSeekOcrMode Gundam { get; } = new("gundam", 1024, 640, true);

    /// <summary>Gundam-M: 1024x1024 tiles plus a 1280x1280 padded global view.</summary>
    public static DeepSeekOcrMode GundamM { get; } = new("gundam-m", 1280, 1024, true);

    /// <summary>Every mode, in order of size.</summary>
    public static IReadOnlyList<DeepSeekOcrMode> All { get; } = [Tiny, Small, Base, Large, Gundam, GundamM];

    /// <summary>The mode named <paramref name="name"/> (case-insensitive); throws <see cref="ArgumentException"/> listing valid names.</summary>
    public static DeepSeekOcrMode Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var mode in All)
        {
            if (string.Equals(mode.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return mode;
            }
        }

        throw new ArgumentException(
            $"unknown DeepSeek-OCR mode '{name}'; valid modes: {string.Join(", ", All.Select(m => m.Name))}", nameof(name));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (global {BaseSize}, tiles {(Crop ? ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")})";
}
