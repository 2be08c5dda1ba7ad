using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Images;

/// <summary>
/// What DeepSeek-OCR's processor makes of one image: the padded global view, the tiles (row-major, empty when the image
/// is not tiled) and the grid (TilesWide columns x TilesHigh rows; (1, 1) when not tiled).
/// </summary>
public sealed record DeepSeekOcrInput(RgbImage Global, IReadOnlyList<RgbImage> Tiles, int TilesWide, int TilesHigh);

/// <summary>
/// DeepSeek-OCR image preprocessing, as <c>DeepseekOCRProcessor.tokenize_with_images</c> in
/// DeepSeek-OCR-vllm/process/image_process.py:
/// <list type="number">
/// <item>cropping = mode.Crop and (width &gt; 640 or height &gt; 640) (the literal 640 of the original, in every crop
/// mode); when cropping: <see cref="TileGrid.Choose"/> with minCrops..maxCrops tiles of ImageSize, then
/// <see cref="TileGrid.Cut"/>;</item>
/// <item>global view: when ImageSize &lt;= 640 and not cropping, the image is first resized to a square
/// ImageSize x ImageSize (aspect NOT kept); then <c>ImageOps.pad</c> to BaseSize with fill int(0.5 * 255) = 127.</item>
/// </list>
/// The golden outputs of the original processor (fixtures/golden/preprocess) decide one detail: a small image (both sides
/// &lt;= 640) in gundam mode is NOT cropped, so it takes the square-resize branch (640 x 640, then padded, i.e. upscaled, to
/// 1024 x 1024) rather than being padded with its aspect ratio kept; dsocr_small_300x200_gundam_global.png matches that
/// bit for bit, whereas an aspect-kept pad would put grey bars where the golden has image content. Processor copies that pass
/// <c>cropping=True</c> for every image would pad instead.
/// Normalisation afterwards: mean 0.5, std 0.5 per channel (<see cref="Normalize"/>).
/// </summary>
public static class DeepSeekOcrPreprocessor
{
    /// <summary>Images up to this size on both sides are never tiled (hard-coded 640 in the original processor).</summary>
    public const int NoTilingLimit = 640;

    /// <summary>The pad colour: tuple(int(x * 255) for x in mean) with mean 0.5.</summary>
    public const byte PadValue = 127;

    private static readonly float[] MeanStd = [0.5f, 0.5f, 0.5f];

    /// <summary>Preprocesses one RGB image for <paramref name="mode"/>.</summary>
    public static DeepSeekOcrInput Preprocess(RgbImage image, DeepSeekOcrMode mode, int minCrops = 2, int maxCrops = 6)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(mode);

        IReadOnlyList<RgbImage> tiles = [];
        var grid = (Columns: 1, Rows: 1);
        bool cropping = mode.Crop && (image.Width > NoTilingLimit || image.Height > NoTilingLimit);
        if (cropping)
        {
            grid = TileGrid.Choose(image.Width, image.Height, minCrops, maxCrops, mode.ImageSize);
            tiles = TileGrid.Cut(image, grid.Columns, grid.Rows, mode.ImageSize);
        }

        var source = image;
        if (mode.ImageSize <= NoTilingLimit && !cropping)
        {
            source = PilImageOps.Resize(image, mode.ImageSize, mode.ImageSize);
        }

        var global = PilImageOps.Pad(source, mode.BaseSize, mode.BaseSize, (PadValue, PadValue, PadValue));
        return new DeepSeekOcrInput(global, tiles, grid.Columns, grid.Rows);
    }

    /// <summary>The grid DeepSeek-OCR's <c>count_tiles</c> picks (tileSize 640 by default), as (columns, rows).</summary>
    public static (int Columns, int Rows) CountTiles(int width, int height, int minCrops = 2, int maxCrops = 6, int tileSize = 640)
        => TileGrid.Choose(width, height, minCrops, maxCrops, tileSize);

    /// <summary>Float32 [3, H, W] tensor, (p / 255 - 0.5) / 0.5.</summary>
    public static float[] Normalize(RgbImage image) => PilImageOps.ToNormalizedChw(image, MeanStd, MeanStd);

    /// <summary>
    /// Normalised images of one size stacked into [N, 3, H, W] (a global view, or the tiles of a page): the pixel_values
    /// of one DeepEncoder / DeepEncoder V2 graph call.
    /// </summary>
    public static HostTensor Batch(IReadOnlyList<RgbImage> images)
    {
        int h = images[0].Height, w = images[0].Width;
        var data = new float[(long)images.Count * 3 * h * w];
        for (int i = 0; i < images.Count; i++)
            Normalize(images[i]).CopyTo(data, (long)i * 3 * h * w);
        return new HostTensor([images.Count, 3, h, w], data);
    }
}
