namespace ModelForge.Converters.Images;

/// <summary>
/// The dynamic tiling decision shared by InternVL and DeepSeek-OCR (<c>dynamic_preprocess</c> /
/// <c>find_closest_aspect_ratio</c> / DeepSeek-OCR's <c>count_tiles</c>): choose the grid (columns, rows) with
/// minTiles &lt;= columns * rows &lt;= maxTiles whose aspect ratio columns / rows is closest to width / height.
/// </summary>
/// <remarks>
/// Candidates are visited by increasing tile count, as the references' <c>sorted(set, key=i*j)</c>. On an exact tie of
/// the aspect distance a later candidate wins only when the image area exceeds half the candidate's pixel area
/// (0.5 * tileSize^2 * columns * rows), i.e. big images prefer more tiles. Within one tile count the references keep
/// CPython's set order; this class uses ascending columns instead. The order could only matter for an exact tie between two
/// candidates with the same tile count and no better candidate, which does not happen for the configurations in use (a
/// square grid is always strictly closer to the midpoint of r and 1/r; the original code was run with both orders over a sweep
/// of image sizes at every such tie point for
/// (1..6), (1..12), (2..6), (2..9)).
/// </remarks>
public static class TileGrid
{
    /// <summary>The grid (Columns = tiles across the width, Rows = tiles down the height) for an image of this size.</summary>
    public static (int Columns, int Rows) Choose(int width, int height, int minTiles, int maxTiles, int tileSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minTiles, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTiles, minTiles);

        double aspect = (double)width / height;
        double area = (double)width * height;
        double bestDiff = double.PositiveInfinity;
        var best = (Columns: 1, Rows: 1);
        foreach (var (c, r) in Candidates(minTiles, maxTiles))
        {
            double diff = Math.Abs(aspect - ((double)c / r));
            if (diff < bestDiff)
            {
                bestDiff = diff;
                best = (c, r);
            }
            else if (diff == bestDiff && area > 0.5 * tileSize * tileSize * c * r)
            {
                best = (c, r);
            }
        }

        return best;
    }

    /// <summary>All (columns, rows) with minTiles &lt;= columns * rows &lt;= maxTiles, by tile count then columns.</summary>
    public static IReadOnlyList<(int Columns, int Rows)> Candidates(int minTiles, int maxTiles)
    {
        var list = new List<(int Columns, int Rows)>();
        for (int n = minTiles; n <= maxTiles; n++)
        {
            for (int c = 1; c <= n; c++)
            {
                if (n % c == 0)
                {
                    list.Add((c, n / c));
                }
            }
        }

        return list;
    }

    /// <summary>
    /// Resizes the image to (tileSize * columns, tileSize * rows) with PIL bicubic and cuts it into tiles row-major
    /// (left to right, then top to bottom), as <c>dynamic_preprocess</c> does.
    /// </summary>
    public static IReadOnlyList<RgbImage> Cut(RgbImage image, int columns, int rows, int tileSize)
    {
        var resized = PilImageOps.Resize(image, tileSize * columns, tileSize * rows);
        var tiles = new List<RgbImage>(columns * rows);
        for (int i = 0; i < columns * rows; i++)
        {
            tiles.Add(PilImageOps.Crop(resized, (i % columns) * tileSize, (i / columns) * tileSize, tileSize, tileSize));
        }

        return tiles;
    }
}
