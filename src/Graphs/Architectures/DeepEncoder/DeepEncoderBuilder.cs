using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>
/// What to build: the square input size, the name of the batch (or tile) axis, and whether this is the local-tile
/// graph of a Gundam mode (outputs only projected [T, t², P] and image_newline [P], which the mosaic assembly needs).
/// </summary>
public sealed record DeepEncoderBuildOptions(int ImageSize = 1024, string BatchSymbol = "B", DataType ComputeType = DataType.Float32, bool Tiles = false);

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
        var (samGrid, clipGrid, _) = cfg.Grids(options.ImageSize);
        var b = new GraphBuilder("deepencoder", options.ComputeType);
        b.Graph.Metadata["architecture"] = "deepencoder";
        b.Graph.Metadata["image_size"] = options.ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        b.Graph.Metadata["part"] = options.Tiles ? "local" : "global";
        var pixels = b.Input("pixel_values", Dim.Sym(options.BatchSymbol), 3, options.ImageSize, options.ImageSize);

        Value sam;
        using (b.Scope("sam_model")) sam = Sam(b, cfg.Sam, pixels, samGrid);
        if (!options.Tiles) b.Output("sam", sam);

        var samTokens = b.FlattenSpatial(sam);                                        // [B, g2², C3]
        Value clip;
        using (b.Scope("vision_model")) clip = Clip(b, cfg.Clip, samTokens, clipGrid);
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

    private static Value Sam(GraphBuilder b, SamConfig c, Value pixels, int grid)
    {
        var patches = b.Conv2d("patch_embed.proj", pixels, 3, c.EmbedDim, c.PatchSize, c.PatchSize);
        var x = b.Transpose(patches, 0, 2, 3, 1);                                                 // [B, g, g, C]
        b.Trace("sam.patch_embed", x);
        var pos = PositionTables.ResizeGrid(b, b.Weight("pos_embed", 1, c.PosGrid, c.PosGrid, c.EmbedDim), c.PosGrid, grid, c.EmbedDim, "pos_embed.resized");
        x = b.Add(x, pos);

        var opts = new VitBlockOptions(c.EmbedDim, c.NumHeads, (long)(c.EmbedDim * c.MlpRatio), Activation.Gelu, c.LayerNormEps, Fc1: "lin1", Fc2: "lin2");
        long headDim = c.EmbedDim / c.NumHeads;
        for (int i = 0; i < c.Depth; i++)
        {
            bool global = c.GlobalAttnIndexes.Contains(i);
            int trained = global ? c.PosGrid : c.WindowSize;   // rel-pos tables have 2*trained-1 rows
            using (b.Scope($"blocks.{i}"))
                x = VitBlock.Apply(b, x, opts, normed => global
                    ? SamAttention(b, normed, opts, trained, headDim)
                    : WindowedAttention(b, normed, opts, c.WindowSize, headDim));
            b.Trace($"sam.blocks.{i}", x);
        }

        var nchw = b.Transpose(x, 0, 3, 1, 2);                                                    // [B, C, g, g]
        Value neck;
        using (b.Scope("neck"))
        {
            neck = b.Conv2d("0", nchw, c.EmbedDim, c.NeckChannels, 1, bias: false);
            neck = b.LayerNorm2d("1", neck, c.NeckChannels, c.LayerNormEps);
            neck = b.Conv2d("2", neck, c.NeckChannels, c.NeckChannels, 3, pad: 1, bias: false);
            neck = b.LayerNorm2d("3", neck, c.NeckChannels, c.LayerNormEps);
        }
        b.Trace("sam.neck", neck);
        var net2 = b.Conv2d("net_2", neck, c.NeckChannels, c.Net2Channels, 3, stride: 2, pad: 1, bias: false);
        b.Trace("sam.net_2", net2);
        return b.Conv2d("net_3", net2, c.Net2Channels, c.Net3Channels, 3, stride: 2, pad: 1, bias: false);
    }

    /// <summary>Attention over x [N, H, W, C] with decomposed rel-pos (tables trained for <paramref name="trained"/>).</summary>
    private static Value SamAttention(GraphBuilder b, Value x, VitBlockOptions o, int trained, long headDim)
    {
        Dim n = x.Shape[0];
        long h = x.Shape[1].Value, w = x.Shape[2].Value;
        var relH = b.Weight("rel_pos_h", 2 * trained - 1, headDim);
        var relW = b.Weight("rel_pos_w", 2 * trained - 1, headDim);
        var rhT = RelPos.GatheredTable(b, relH, (int)h, "rel_pos_h.gathered");
        var rwT = RelPos.GatheredTable(b, relW, (int)w, "rel_pos_w.gathered");
        var tokens = b.Reshape(x, n, h * w, o.Dim);                                                // [N, H*W, C]
        var y = b.SelfAttention(tokens, o.AttentionOptions, q => RelPos.Bias(b, q, rhT, rwT, h, w));
        return b.Reshape(y, n, h, w, o.Dim);
    }

    private static Value WindowedAttention(GraphBuilder b, Value x, VitBlockOptions o, int ws, long headDim)
    {
        Dim batch = x.Shape[0];
        long h = x.Shape[1].Value, w = x.Shape[2].Value;
        var (windows, hp, wp) = b.Partition(x, ws);                                              // [B*nW, ws, ws, C]
        var y = SamAttention(b, windows, o, ws, headDim);
        return b.Unpartition(y, batch, ws, hp, wp, h, w);
    }

    private static Value Clip(GraphBuilder b, ClipConfig c, Value samTokens, int grid)
    {
        Dim batch = samTokens.Shape[0];
        long d = c.HiddenSize;
        Value x;
        using (b.Scope("embeddings"))
        {
            var cls = b.Expand(b.Reshape(b.Weight("class_embedding", d), 1, 1, d), batch, 1, d);   // [B, 1, D]
            x = b.Concat(1, cls, samTokens);                                                         // [B, 1+g², D]
            int trained = c.PosGrid;
            var table = b.Weight("position_embedding.weight", (long)trained * trained + 1, d);      // [1+G², D]
            x = b.Add(x, PositionTables.ResizeWithClassRow(b, table, trained, grid, d, "position_embedding.resized"));
        }
        b.Trace("clip.embeddings", x);
        x = b.LayerNorm("pre_layrnorm", x, d, c.LayerNormEps);
        b.Trace("clip.pre_layrnorm", x);
        var opts = new VitBlockOptions(d, c.NumHeads, c.FfnHiddenSize, Activations.Parse(c.Activation), c.LayerNormEps,
            Norm1: "layer_norm1", Norm2: "layer_norm2", Attn: "self_attn", Qkv: "qkv_proj", Proj: "out_proj");
        for (int i = 0; i < c.NumLayers; i++)
        {
            using (b.Scope($"transformer.layers.{i}")) x = VitBlock.Apply(b, x, opts);
            b.Trace($"clip.layers.{i}", x);
        }
        return x;
    }
}
