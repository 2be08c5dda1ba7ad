using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Images;

/// <summary>
/// The parameters of transformers' <c>Qwen2VLImageProcessor</c> (Qwen2-VL and Qwen2.5-VL share it; released
/// preprocessor_config.json: patch 14, temporal 2, merge 2, min_pixels 3136, max_pixels 12845056, OpenAI CLIP mean/std).
/// </summary>
public sealed record Qwen2VlProcessorConfig
{
    /// <summary>OpenAI CLIP mean (transformers OPENAI_CLIP_MEAN).</summary>
    public static readonly IReadOnlyList<float> ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary>OpenAI CLIP std (transformers OPENAI_CLIP_STD).</summary>
    public static readonly IReadOnlyList<float> ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The released preprocessor_config.json of Qwen2-VL-7B-Instruct and Qwen2.5-VL-3B-Instruct.</summary>
    public static Qwen2VlProcessorConfig Released { get; } = new();

    /// <summary>Patch side in pixels.</summary>
    public int PatchSize { get; init; } = 14;

    /// <summary>Frames per temporal patch; an image is its one frame repeated this many times.</summary>
    public int TemporalPatchSize { get; init; } = 2;

    /// <summary>Merge side: merge x merge patches fold into one token.</summary>
    public int MergeSize { get; init; } = 2;

    /// <summary>Smallest resized pixel count.</summary>
    public int MinPixels { get; init; } = Qwen2VlSmartResize.ReleasedMinPixels;

    /// <summary>Largest resized pixel count.</summary>
    public int MaxPixels { get; init; } = Qwen2VlSmartResize.ReleasedMaxPixels;

    /// <summary>Per-channel mean, RGB.</summary>
    public IReadOnlyList<float> Mean { get; init; } = ClipMean;

    /// <summary>Per-channel std, RGB.</summary>
    public IReadOnlyList<float> Std { get; init; } = ClipStd;

    /// <summary>Values of one packed patch row: 3 * temporal * patch².</summary>
    public int PatchValues => 3 * TemporalPatchSize * PatchSize * PatchSize;
}

/// <summary>
/// What the processor makes of one image: the resized size, its grid (T = 1, H and W in patches) and the packed rows
/// <c>pixel_values</c> [H*W, 3*T*P*P] in merge-unit order.
/// </summary>
public sealed record Qwen2VlImageInput(int ResizedWidth, int ResizedHeight, GridThw Grid, float[] PixelValues, int PatchValues)
{
    /// <summary>Vision tokens after the 2x2 (merge²) PatchMerger.</summary>
    public int Tokens(int mergeSize) => Grid.Patches / (mergeSize * mergeSize);

    /// <summary>The processor's batch for this one image: pixel_values [H*W, values] and grid_thw [1, 3] (int64).</summary>
    public IReadOnlyDictionary<string, HostTensor> ToInputs() => new Dictionary<string, HostTensor>(StringComparer.Ordinal)
    {
        ["pixel_values"] = new HostTensor([Grid.Patches, PatchValues], PixelValues),
        ["grid_thw"] = new HostTensor([1, 3], [Grid.T, Grid.H, Grid.W]),
    };
}

/// <summary>
/// Qwen2-VL / Qwen2.5-VL image preprocessing as the ORIGINAL processor of the goldens does it. The golden README names
/// <c>Qwen2VLImageProcessor</c>; its values match the torchvision arithmetic of <c>Qwen2VLImageProcessorFast._preprocess</c>
/// (ATen's uint8 resize, fused rescale/normalize) and not the PIL/numpy path (which differs in ~2/3 of the float32 values
/// and by one grey level in 331 resized bytes of the golden image; found by comparing both against it):
/// <list type="number">
/// <item><see cref="Qwen2VlSmartResize"/> picks (H', W'), multiples of patch * merge (28) within [min, max] pixels;</item>
/// <item>resize of the uint8 image, bicubic with antialias (<see cref="TorchvisionResize"/>; within one grey level of
/// PIL's BICUBIC, which the numpy processor uses);</item>
/// <item>rescale 1/255 and normalize fused, in float32: (p - mean * 255) / (std * 255) with mean * 255 and std * 255
/// rounded to float32 (<c>_fuse_mean_std_and_rescale_factor</c>, then <c>F.normalize</c>);</item>
/// <item>the frame is repeated to temporal_patch_size and laid out as the processor's reshape
/// [gt, T, C, gh/m, m, P, gw/m, m, P] -> permute(0, 3, 6, 4, 7, 2, 1, 5, 8) -> [gt*gh*gw, C*T*P*P]: rows walk the
/// merge units row-major and the m x m patches inside each unit row-major; a row holds channel, frame, patch row, patch
/// column.</item>
/// </list>
/// Every value depends only on (channel, byte), so the normalisation is a 3 x 256 table (the same float32 arithmetic).
/// Golden: fixtures/golden/preprocess/qwen2vl_small_300x200.safetensors, equal bit for bit (300x200 -> 308x196: width
/// upscaled, height downscaled).
/// </summary>
public static class Qwen2VlPreprocessor
{
    /// <summary>The resized size and the patch grid an image of this size gets, without touching pixels.</summary>
    public static (int Width, int Height, GridThw Grid) Plan(int width, int height, Qwen2VlProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int factor = config.PatchSize * config.MergeSize;
        var (h, w) = Qwen2VlSmartResize.Resize(height, width, factor, config.MinPixels, config.MaxPixels);
        return (w, h, new GridThw(1, h / config.PatchSize, w / config.PatchSize));
    }

    /// <summary>Preprocesses one RGB image (one frame, repeated to the temporal patch).</summary>
    public static Qwen2VlImageInput Preprocess(RgbImage image, Qwen2VlProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(config);
        if (config.Mean.Count != 3 || config.Std.Count != 3)
            throw new ArgumentException("image_mean and image_std need one value per RGB channel");
        var (w, h, grid) = Plan(image.Width, image.Height, config);
        var resized = TorchvisionResize.BicubicAntialias(image, w, h);
        var table = NormalizationTable(config.Mean, config.Std);
        return new Qwen2VlImageInput(w, h, grid, Pack(resized, grid, config, table), config.PatchValues);
    }

    /// <summary>table[c * 256 + p] = (p - mean[c] * 255) / (std[c] * 255), every step in float32.</summary>
    public static float[] NormalizationTable(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        var table = new float[3 * 256];
        for (int c = 0; c < 3; c++)
        {
            float m = mean[c] * 255f, s = std[c] * 255f;
            for (int p = 0; p < 256; p++) table[c * 256 + p] = (p - m) / s;
        }

        return table;
    }

    /// <summary>The packed rows [grid.H * grid.W, C*T*P*P] of one resized frame (see the class comment for the order).</summary>
    private static float[] Pack(RgbImage frame, GridThw grid, Qwen2VlProcessorConfig config, float[] table)
    {
        int p = config.PatchSize, m = config.MergeSize, t = config.TemporalPatchSize;
        int values = config.PatchValues, plane = p * p;
        var data = new float[checked((long)grid.Patches * values)];
        var pixels = frame.Pixels;
        int unitsW = grid.W / m;
        long row = 0;
        for (int bh = 0; bh < grid.H / m; bh++)
        {
            for (int bw = 0; bw < unitsW; bw++)
            {
                for (int mh = 0; mh < m; mh++)
                {
                    for (int mw = 0; mw < m; mw++, row++)
                    {
                        int y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
                        long at = row * values;
                        for (int c = 0; c < 3; c++)
                        {
                            // Frame 0 of channel c, then copied to the other t - 1 frames (the repeated image).
                            long first = at + (long)c * t * plane;
                            for (int py = 0; py < p; py++)
                            {
                                int src = ((y0 + py) * frame.Width + x0) * 3 + c;
                                long dst = first + py * p;
                                for (int px = 0; px < p; px++) data[dst + px] = table[c * 256 + pixels[src + px * 3]];
                            }

                            for (int f = 1; f < t; f++) Array.Copy(data, first, data, first + (long)f * plane, plane);
                        }
                    }
                }
            }
        }

        return data;
    }
}
