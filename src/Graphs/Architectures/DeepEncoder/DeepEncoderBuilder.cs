using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>
/// What to build: the square input size, the name of the batch (or tile) axis, and whether this is the local-tile
/// graph of a Gundam mode (outputs only projected [T, t², P] and image_newline [P], which the mosaic assembly needs).
/// </summary>
public sealed record DeepEncoderBuildOptions(int ImageSize = 1024, string BatchSymbol = "B", DataType ComputeType = DataType.Float32,
    bool Tiles = false);

/// <summary>
/// DeepSeek-OCR's DeepEncoder: SAM-B (window attention, 4 global blocks, decomposed rel-pos) -> neck -> two
/// stride-2 convs (16x fewer tokens) -> CLIP-L on those tokens -> [CLIP | SAM] -> linear projector, plus the
/// global-view token layout. Weight keys are the released checkpoint's without the leading "model."
/// (see <see cref="DeepEncoderAdapter"/>). Reference: DeepSeek-OCR deepencoder/{sam_vary_sdpa,clip_sdpa,build_linear}.py
/// and deepseek_ocr.py (token layout).
/// Outputs: sam [B, C3, g2, g2], clip [B, 1+g2², D], features [B, g2², D+C3], projected [B, g2², P],
/// global_view_tokens [B, g2*(g2+1)+1, P].
/// </summary>
public static class DeepEncoderBuilder
{
    public static Graph Build(DeepEncoderConfig cfg, DeepEncoderBuildOptions options)
    {
        cfg.Validate();
        var (_, clipGrid, _) = cfg.Grids(options.ImageSize);
        var b = new GraphBuilder("deepencoder", options.ComputeType);
        b.Graph.Metadata["architecture"] = "deepencoder";
        b.Graph.Metadata["image_size"] = options.ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        b.Graph.Metadata["part"] = options.Tiles ? "local" : "global";
        var pixels = b.Input("pixel_values", Dim.Sym(options.BatchSymbol), 3, options.ImageSize, options.ImageSize);

        Value sam;
        using (b.Scope("sam_model")) sam = SamEncoder.Build(b, cfg.Sam, pixels);   // [B, C3, g2, g2]
        if (!options.Tiles) b.Output("sam", sam);

        var samTokens = b.FlattenSpatial(sam);                                        // [B, g2², C3]
        Value clip;
        // CLIP reads SAM's tokens in place of its own patch embedding.
        using (b.Scope("vision_model")) clip = ClipTower.HiddenStates(b, cfg.Clip, samTokens, clipGrid, ClipNames)[^1]; // [B, 1+g2², D]
        if (!options.Tiles) b.Output("clip", clip);

        long tokens = (long)clipGrid * clipGrid;
        var features = b.Concat(-1, b.Slice(clip, 1, 1, 1 + tokens), samTokens);      // [B, g2², D + C3]
        var projected = b.Linear("projector.layers", features, cfg.Projector.InputDim, cfg.Projector.OutputDim);
        if (options.Tiles)
        {
            b.Output("projected", projected);
            b.Output("image_newline", b.WeightByKey("image_newline", cfg.Projector.OutputDim));
            // Read by the global-view graph of the same artifact; declared so both parts check the same checkpoint keys.
            b.WeightByKey("view_seperator", cfg.Projector.OutputDim);
            return b.Graph;
        }
        b.Output("features", features);
        b.Output("projected", projected);
        b.Output("global_view_tokens", GlobalViewLayout(b, projected, clipGrid, cfg.Projector.OutputDim));
        return b.Graph;
    }

    /// <summary>
    /// projected [B, h*w, P] -> [B, h*(w+1)+1, P]: each grid row followed by image_newline, then view_seperator.
    /// </summary>
    public static Value GlobalViewLayout(GraphBuilder b, Value projected, int grid, long p)
    {
        Dim batch = projected.Shape[0];
        var rows = b.Reshape(projected, batch, grid, grid, p);                                    // [B, h, w, P]
        var newline = b.Expand(b.Reshape(b.WeightByKey("image_newline", p), 1, 1, 1, p), batch, grid, 1, p);
        var withNewlines = b.Reshape(b.Concat(2, rows, newline), batch, (long)grid * (grid + 1), p); // [B, h*(w+1), P]
        var separator = b.Expand(b.Reshape(b.WeightByKey("view_seperator", p), 1, 1, p), batch, 1, p);
        return b.Concat(1, withNewlines, separator);
    }

    /// <summary>DeepSeek-OCR's CLIP copy: packed qkv_proj under transformer.layers.N.</summary>
    private static readonly ClipLayout ClipNames = new("transformer.layers", "qkv_proj", null);
}
