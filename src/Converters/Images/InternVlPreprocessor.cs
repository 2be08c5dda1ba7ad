namespace ModelForge.Converters.Images;

/// <summary>
/// InternVL 2.0 <c>dynamic_preprocess</c> (OpenGVLab InternVL chat README / modeling code): choose a grid of
/// minTiles..maxTiles tiles of tileSize (<see cref="TileGrid.Choose"/>), cut the bicubic-resized image into tiles
/// row-major and, when there is more than one tile and a thumbnail is wanted, append the whole image resized to a
/// tileSize square. Normalisation: ImageNet mean/std (<see cref="Normalize"/>).
/// </summary>
public static class InternVlPreprocessor
{
    private static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    /// <summary>The tiles (thumbnail last when present) and the grid used.</summary>
    public static (IReadOnlyList<RgbImage> Tiles, int Columns, int Rows) Preprocess(
        RgbImage image, int minTiles = 1, int maxTiles = 12, int tileSize = 448, bool useThumbnail = true)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (columns, rows) = TileGrid.Choose(image.Width, image.Height, minTiles, maxTiles, tileSize);
        var tiles = new List<RgbImage>(TileGrid.Cut(image, columns, rows, tileSize));
        if (useThumbnail && tiles.Count != 1)
        {
            tiles.Add(PilImageOps.Resize(image, tileSize, tileSize));
        }

        return (tiles, columns, rows);
    }

    /// <summary>Number of images <see cref="Preprocess"/> returns for an image of this size.</summary>
    public static int CountTiles(int width, int height, int minTiles = 1, int maxTiles = 12, int tileSize = 448, bool useThumbnail = true)
    {
        var (columns, rows) = TileGrid.Choose(width, height, minTiles, maxTiles, tileSize);
        int n = columns * rows;
        return useThumbnail && n != 1 ? n + 1 : n;
    }

    /// <summary>Float32 [3, H, W] tensor normalised with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).</summary>
    public static float[] Normalize(RgbImage image) => PilImageOps.ToNormalizedChw(image, Mean, Std);
}
