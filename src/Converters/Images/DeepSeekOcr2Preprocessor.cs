using ModelForge.Graphs.Architectures.DeepEncoder2;

namespace ModelForge.Converters.Images;

/// <summary>
/// DeepSeek-OCR 2 image preprocessing, as <c>DeepseekOCR2Processor.tokenize_with_images</c> in
/// DeepSeek-OCR2-vllm/process/image_process.py (config.py: BASE_SIZE 1024, IMAGE_SIZE 768, CROP_MODE True, MIN_CROPS 2,
/// MAX_CROPS 6):
/// <list type="number">
/// <item>no crops when both sides are &lt;= 768 (the original's literal 768 = IMAGE_SIZE; <see cref="DeepSeekOcr2Mode.ImageSize"/>
/// for scaled configs); otherwise, in crop mode, <see cref="TileGrid.Choose"/> with minCrops..maxCrops crops of ImageSize
/// (the same find_closest_aspect_ratio rule as DeepSeek-OCR and InternVL) and <see cref="TileGrid.Cut"/> (row-major);</item>
/// <item>global view: <c>ImageOps.pad</c> to BaseSize (aspect kept, fill int(0.5 * 255) = 127). The square resize to
/// ImageSize first happens only when CROP_MODE is off (<c>if self.image_size &lt;= 768 and not cropping</c>, where
/// <c>cropping</c> is the mode flag, not whether this image was cropped): mode "base".</item>
/// </list>
/// Unlike DeepSeek-OCR (limit 640, square resize whenever the image is not cropped), a small image in the crop mode keeps
/// its aspect ratio in the global view. Normalisation: mean 0.5, std 0.5 (<see cref="DeepSeekOcrPreprocessor.Normalize"/>).
/// </summary>
public static class DeepSeekOcr2Preprocessor
{
    /// <summary>Preprocesses one RGB image for <paramref name="mode"/> (sizes already those of the artifact's config).</summary>
    public static DeepSeekOcrInput Preprocess(RgbImage image, DeepSeekOcr2Mode mode, int minCrops = 2, int maxCrops = 6)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(mode);

        IReadOnlyList<RgbImage> crops = [];
        var grid = (Columns: 1, Rows: 1);
        if (mode.Crop && (image.Width > mode.ImageSize || image.Height > mode.ImageSize))
        {
            grid = TileGrid.Choose(image.Width, image.Height, minCrops, maxCrops, mode.ImageSize);
            crops = TileGrid.Cut(image, grid.Columns, grid.Rows, mode.ImageSize);
        }

        var source = mode.Crop ? image : PilImageOps.Resize(image, mode.ImageSize, mode.ImageSize);
        const byte grey = DeepSeekOcrPreprocessor.PadValue;
        var global = PilImageOps.Pad(source, mode.BaseSize, mode.BaseSize, (grey, grey, grey));
        return new DeepSeekOcrInput(global, crops, grid.Columns, grid.Rows);
    }
}
