using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>
/// A DeepSeek-OCR resolution mode: the global view's size, and for the Gundam modes the size of the local tiles
/// (cut from the image by the tiling rule when it is larger than a tile). Sizes are those of the released model
/// (SAM trained at 1024 with 16-pixel patches); <see cref="Scaled"/> maps them onto a config trained at another size.
/// </summary>
public sealed record DeepSeekOcrMode(string Name, int BaseSize, int? TileSize)
{
    public static DeepSeekOcrMode Tiny { get; } = new("tiny", 512, null);
    public static DeepSeekOcrMode Small { get; } = new("small", 640, null);
    public static DeepSeekOcrMode Base { get; } = new("base", 1024, null);
    public static DeepSeekOcrMode Large { get; } = new("large", 1280, null);
    public static DeepSeekOcrMode Gundam { get; } = new("gundam", 1024, 640);
    public static DeepSeekOcrMode GundamM { get; } = new("gundam-m", 1280, 1024);

    public static IReadOnlyList<DeepSeekOcrMode> All { get; } = [Tiny, Small, Base, Large, Gundam, GundamM];

    /// <summary>Whether the mode cuts local tiles (Gundam, Gundam-M): the original processor's crop_mode.</summary>
    public bool Crop => TileSize is not null;

    /// <summary>The original processor's image_size: the tile size in crop modes, else the global view's size.</summary>
    public int ImageSize => TileSize ?? BaseSize;

    /// <summary>Smallest and largest tile counts of the tiling rule (count_tiles / dynamic_preprocess).</summary>
    public const int MinTiles = 2, MaxTiles = 9;

    /// <summary>The mode of that name (case-insensitive); ArgumentException listing the valid names otherwise.</summary>
    public static DeepSeekOcrMode Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown DeepSeek-OCR mode '{name}'; valid modes: {string.Join(", ", All.Select(m => m.Name))}");

    public override string ToString() =>
        $"{Name} (global {BaseSize}, " +
        $"tiles {(TileSize is { } t ? t.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")})";

    /// <summary>
    /// The mode's sizes for a config whose SAM was trained at <paramref name="samImageSize"/> instead of 1024 (the golden
    /// tiny fixtures: 256 -> Tiny 128, Small 160, Base 256, Large 320, Gundam tiles 160). Sizes stay multiples of the patch.
    /// </summary>
    public DeepSeekOcrMode Scaled(int samImageSize, int patchSize)
    {
        if (samImageSize == 1024) return this;
        int Scale(int s)
        {
            long scaled = (long)s * samImageSize / 1024;
            if (scaled % patchSize != 0 || scaled <= 0)
                throw new GraphException(
                    $"mode {Name}: size {s} scaled to a {samImageSize}-pixel model is {scaled}, " +
                    $"not a multiple of the patch size {patchSize}");
            return (int)scaled;
        }
        return this with { BaseSize = Scale(BaseSize), TileSize = TileSize is { } t ? Scale(t) : null };
    }
}

/// <summary>
/// The vision-token sequence DeepSeek-OCR feeds its language model (deepseek_ocr.py): for Gundam modes the local tiles
/// as one mosaic (tilesHigh*h rows of tilesWide*w tokens, image_newline after each row), then the global view
/// (h rows of w tokens, image_newline after each), then view_seperator. The tile grid is known only after tiling the
/// image, so this assembly is a step ModelForge performs after the exported graphs run (see `modelforge run`).
/// </summary>
public static class DeepSeekOcrTokenLayout
{
    /// <summary>Token count for a global grid g (g*(g+1)+1) plus an optional tile mosaic of t x t-token tiles.</summary>
    public static int TokenCount(int globalGrid, int tileGrid = 0, int tilesWide = 0, int tilesHigh = 0) =>
        globalGrid * (globalGrid + 1) + 1 + (tilesWide * tilesHigh > 0 ? tilesHigh * tileGrid * (tilesWide * tileGrid + 1) : 0);

    /// <summary>
    /// local [T = tilesHigh*tilesWide, t*t, P] (row-major tiles) + newline [P] -> mosaic [tilesHigh*t*(tilesWide*t+1), P],
    /// prepended to the global view tokens [g*(g+1)+1, P] (which already end with view_seperator).
    /// </summary>
    public static float[] Assemble(ReadOnlySpan<float> globalViewTokens, ReadOnlySpan<float> local, int tileGrid, int tilesWide,
        int tilesHigh, ReadOnlySpan<float> newline, int p)
    {
        int t = tileGrid, rows = tilesHigh * t, cols = tilesWide * t;
        if (local.Length != (long)tilesWide * tilesHigh * t * t * p)
            throw new GraphException($"local features hold {local.Length} values, expected {tilesWide * tilesHigh}x{t * t}x{p}");
        var result = new float[(long)rows * (cols + 1) * p + globalViewTokens.Length];
        int o = 0;
        for (int r = 0; r < rows; r++)
        {
            int tileRow = r / t, inRow = r % t;
            for (int c = 0; c < cols; c++)
            {
                int tile = tileRow * tilesWide + c / t;
                local.Slice(((tile * t + inRow) * t + c % t) * p, p).CopyTo(result.AsSpan(o, p));
                o += p;
            }
            newline.CopyTo(result.AsSpan(o, p));
            o += p;
        }
        globalViewTokens.CopyTo(result.AsSpan(o));
        return result;
    }
}
