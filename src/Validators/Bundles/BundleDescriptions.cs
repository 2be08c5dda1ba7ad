using System.Globalization;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Bundles;

/// <summary>
/// What a deployment needs to feed a bundle and read its outputs, per family: the host-side preprocessing parameters and
/// the token layout (manifest "preprocessing" and "token_layout"). Values are those ModelForge's own preprocessors use.
/// </summary>
public static class BundleDescriptions
{
    public static Dictionary<string, object?> Preprocessing(string architecture, string? mode, IReadOnlyList<Graph> graphs)
    {
        string Size(Graph g) => g.Metadata.GetValueOrDefault("image_size", "?");
        return architecture switch
        {
            "deepencoder" => new()
            {
                ["processor"] = "DeepSeek-OCR (ModelForge DeepSeekOcrPreprocessor: PIL bicubic, antialiased downscaling)",
                ["mode"] = mode,
                ["image_sizes"] = graphs.ToDictionary(g => g.Metadata.GetValueOrDefault("part", "model"), Size),
                ["resize"] = "global view: ImageOps.pad to the base size with fill (127, 127, 127); tiny/small: plain square resize",
                ["tiling"] = "Gundam modes: count_tiles/dynamic_preprocess, 2..9 tiles, cropping only when a side exceeds 640 px",
                ["mean"] = new[] { 0.5, 0.5, 0.5 },
                ["std"] = new[] { 0.5, 0.5, 0.5 },
                ["layout"] = "NCHW RGB float, (pixel / 255 - mean) / std",
            },
            "internvl2" => new()
            {
                ["processor"] = "InternVL 2.0 dynamic tiling (448 px tiles + thumbnail)",
                ["image_sizes"] = graphs.ToDictionary(_ => "model", Size),
                ["mean"] = new[] { 0.485, 0.456, 0.406 },
                ["std"] = new[] { 0.229, 0.224, 0.225 },
                ["layout"] = "NCHW RGB float, (pixel / 255 - mean) / std",
            },
            "vary" => new()
            {
                ["processor"] = "Vary (SAM-style square input)",
                ["image_sizes"] = graphs.ToDictionary(_ => "model", Size),
                ["layout"] = "NCHW RGB float",
            },
            "qwen2vl" or "qwen25vl" => new()
            {
                ["processor"] = "Qwen2VLImageProcessor (ModelForge Qwen2VlPreprocessor: smart_resize to multiples of 28, uint8 bicubic "
                    + "antialiased resize as torchvision, fused rescale/normalize, frame repeated to temporal 2, packed 14-px patch rows "
                    + "in 2x2 merge-unit order); per-frame rotary cos/sin"
                    + (architecture == "qwen25vl" ? ", window order/slots/bias and token order" : "")
                    + " derived from grid_thw on the host",
                ["min_pixels"] = Converters.Images.Qwen2VlSmartResize.ReleasedMinPixels,
                ["max_pixels"] = Converters.Images.Qwen2VlSmartResize.ReleasedMaxPixels,
                ["mean"] = new[] { 0.48145466, 0.4578275, 0.40821073 },
                ["std"] = new[] { 0.26862954, 0.26130258, 0.27577711 },
            },
            _ => new() { ["processor"] = "see the family's documentation" },
        };
    }

    public static Dictionary<string, object?> TokenLayout(string architecture, IReadOnlyList<Graph> graphs)
    {
        if (architecture != "deepencoder")
            return new() { ["outputs"] = graphs.SelectMany(g => g.Outputs).Select(o => $"{o.Name} {o.Type}").Distinct().ToArray() };
        var layout = new Dictionary<string, object?>
        {
            ["order"] = "local tiles as one mosaic (tilesHigh*t rows of tilesWide*t tokens, image_newline after each row), "
                + "then the global view (g rows of g tokens, image_newline after each), then view_seperator",
            ["global_view_tokens"] = "g*(g+1)+1 rows, assembled inside the graph",
            ["mosaic"] = "assembled on the host after the local graph runs (modelforge run does it); the local graph outputs image_newline",
        };
        foreach (var g in graphs)
        {
            var tokens = g.Outputs.FirstOrDefault(o => o.Name == "global_view_tokens");
            if (tokens is not null && tokens.Shape.Dims.Count > 1 && tokens.Shape.Dims[1].Symbol is null)
                layout["global_tokens"] = tokens.Shape.Dims[1].Factor.ToString(CultureInfo.InvariantCulture);
        }
        return layout;
    }
}
