using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder2;

/// <summary>
/// A DeepSeek-OCR 2 resolution mode (config.py: BASE_SIZE, IMAGE_SIZE, CROP_MODE). The release ships one setting,
/// "gundam": a 1024 global view plus 768 crops when a side exceeds 768. "base" is CROP_MODE = False: the image is resized
/// to a 768 square and padded (i.e. upscaled) to the 1024 global view, never cropped. The encoder accepts only these two
/// view sizes (its query tables are chosen by the token count), so there are no other modes.
/// </summary>
public sealed record DeepSeekOcr2Mode(string Name, int BaseSize, int ImageSize, bool Crop)
{
    /// <summary>The released default: 1024 global view + 2..6 crops of 768.</summary>
    public static DeepSeekOcr2Mode Gundam { get; } = new("gundam", 1024, 768, true);

    /// <summary>CROP_MODE = False: the global view only.</summary>
    public static DeepSeekOcr2Mode Base { get; } = new("base", 1024, 768, false);

    /// <summary>Every mode, default first.</summary>
    public static IReadOnlyList<DeepSeekOcr2Mode> All { get; } = [Gundam, Base];

    /// <summary>The mode of that name (case-insensitive); ArgumentException listing the valid names otherwise.</summary>
    public static DeepSeekOcr2Mode Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown DeepSeek-OCR 2 mode '{name}'; valid modes: {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>The mode's sizes for a config whose views differ from the release (tiny golden: 64 global, 48 crops).</summary>
    public DeepSeekOcr2Mode For(ViewsConfig views) => this with { BaseSize = views.BaseSize, ImageSize = views.ImageSize };

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (global {BaseSize}{(Crop ? $", crops {ImageSize}" : "")})";
}

/// <summary>
/// The vision-token sequence DeepSeek-OCR 2 feeds its language model (deepseek_ocr2.py _pixel_values_to_embedding):
/// with crops, every crop's query outputs crop-major (crop 0 first, crops row-major as cut), then the global view's,
/// then view_seperator; without crops the global view's then view_seperator. No image_newline (V2 removed it).
/// </summary>
public static class DeepSeekOcr2TokenLayout
{
    /// <summary>Tokens of one image: nl*crops + ng + 1 (released: 144k + 257, k = 0 or 2..6).</summary>
    public static int TokenCount(int globalTokens, int cropTokens, int crops) => crops * cropTokens + globalTokens + 1;

    /// <summary>
    /// local [T, nl, P] (crops in cut order) prepended to the global graph's image_tokens [ng + 1, P] (which already ends
    /// with view_seperator) -> [T*nl + ng + 1, P]: the crops' tokens are already contiguous crop-major, so this is a concat.
    /// </summary>
    public static float[] Assemble(ReadOnlySpan<float> globalImageTokens, ReadOnlySpan<float> local, int p)
    {
        if (p <= 0 || globalImageTokens.Length % p != 0 || local.Length % p != 0)
            throw new GraphException(
                $"token buffers of {globalImageTokens.Length} and {local.Length} values are not whole {p}-wide tokens");
        return [.. local, .. globalImageTokens];
    }
}
