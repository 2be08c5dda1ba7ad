using System.Globalization;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder2;

/// <summary>
/// What to build: the view size, the crop axis name, and which graph. Tiles = false: the global view of ONE image
/// (pixel_values [1, 3, S, S], as the original runs it per image). Tiles = true: a batch of local crops (pixel_values
/// [T, 3, S, S], T dynamic). Crops &gt; 0: one image with that many crops in one graph (pixel_values [1, 3, S, S] plus
/// images_crop [Crops, 3, s, s], s = views.image_size), producing the whole token sequence; its traces name the crops'
/// view (the second one built), since both views share the reference's module names.
/// </summary>
public sealed record DeepEncoder2BuildOptions(
    int ImageSize = 1024, string BatchSymbol = "B", DataType ComputeType = DataType.Float32, bool Tiles = false, int Crops = 0);

/// <summary>
/// DeepSeek-OCR 2's DeepEncoder V2: SAM-B (window attention, global blocks, decomposed rel-pos) -> neck -> net_2 -> net_3
/// (width = Qwen2 hidden) -> n visual tokens; n learnable queries (the table chosen by n) appended; a Qwen2 decoder stack
/// over the 2n tokens with the mixed mask (visual tokens bidirectional among themselves, query i sees every visual token
/// and queries 0..i) and rotary positions 0..2n-1; the n query outputs after the final norm -> linear projector.
/// Weight keys are the released checkpoint's without "model." (see <see cref="DeepEncoder2Adapter"/>).
/// Reference: DeepSeek-OCR-2 deepencoderv2/{sam_vary_sdpa,qwen2_d2e,build_linear}.py and deepseek_ocr2.py (layout).
/// Outputs (view graphs): sam [N, C, g2, g2], encoder [N, n, C], projected [N, n, P]; the global graph also
/// image_tokens [n+1, P] (global tokens then view_seperator: the original's no-crop layout).
/// </summary>
public static class DeepEncoder2Builder
{
    /// <summary>Scope of the Qwen2 layers in the checkpoint (qwen2_model.model.model.layers.N, .norm).</summary>
    public const string Qwen2Scope = "qwen2_model.model.model";

    /// <summary>Builds the graph the options describe.</summary>
    public static Graph Build(DeepEncoder2Config cfg, DeepEncoder2BuildOptions options)
    {
        cfg.Validate();
        if (options.Crops < 0 || options.Crops > cfg.Views.MaxCrops)
            throw new GraphException($"crop count {options.Crops} is outside 0..{cfg.Views.MaxCrops} (views.max_crops)");
        if (options.Crops > 0 && options.Crops < cfg.Views.MinCrops)
            throw new GraphException($"crop count {options.Crops} is below views.min_crops {cfg.Views.MinCrops} " +
                $"(the original cuts 0 or {cfg.Views.MinCrops}..{cfg.Views.MaxCrops})");
        int expectedTokens = options.Tiles ? cfg.Queries.Query768 : cfg.Queries.Query1024;
        if (cfg.Tokens(options.ImageSize) != expectedTokens)
            throw new GraphException(
                $"{(options.Tiles ? "crop" : "global view")} size {options.ImageSize} " +
                $"gives {cfg.Tokens(options.ImageSize)} visual tokens; " +
                $"DeepSeek-OCR 2's {(options.Tiles ? "query_768" : "query_1024")} table has {expectedTokens} " +
                $"(size {(options.Tiles ? cfg.Views.ImageSize : cfg.Views.BaseSize)}; the query table is chosen by the token count, " +
                "so no other size works)");
        var b = new GraphBuilder("deepencoder2", options.ComputeType);
        b.Graph.Metadata["architecture"] = "deepencoder2";
        b.Graph.Metadata["image_size"] = options.ImageSize.ToString(CultureInfo.InvariantCulture);
        b.Graph.Metadata["part"] = options.Crops > 0 ? "image" : options.Tiles ? "local" : "global";
        long p = cfg.Projector.OutputDim;
        // Every part declares every encoder tensor it may read, so each checks the whole checkpoint (unused ones are pruned).
        foreach (var (table, rows) in new[] { ("query_768", cfg.Queries.Query768), ("query_1024", cfg.Queries.Query1024) })
            b.WeightByKey($"qwen2_model.{table}.weight", rows, cfg.Qwen2.HiddenSize);
        var separator = b.WeightByKey("view_seperator", p);

        if (options.Crops > 0)
        {
            var global = View(b, cfg, b.Input("pixel_values", 1, 3, options.ImageSize, options.ImageSize)).Projected;
            int s = cfg.Views.ImageSize;
            var local = View(b, cfg, b.Input("images_crop", options.Crops, 3, s, s)).Projected;
            b.Output("image_tokens", TokenSequence(b, local, global, separator));
            return b.Graph;
        }

        Dim batch = options.Tiles ? Dim.Sym(options.BatchSymbol) : 1;
        var view = View(b, cfg, b.Input("pixel_values", batch, 3, options.ImageSize, options.ImageSize));
        b.Output("sam", view.Sam);
        b.Output("encoder", view.Encoder);
        b.Output("projected", view.Projected);
        if (!options.Tiles) b.Output("image_tokens", TokenSequence(b, null, view.Projected, separator));
        return b.Graph;
    }

    /// <summary>
    /// The original's per-image sequence: local [T, nl, P] crop-major (crop 0's tokens first), then the global view
    /// [1, ng, P], then view_seperator [P] -> [T*nl + ng + 1, P]; no image_newline in V2. local is null without crops.
    /// </summary>
    public static Value TokenSequence(GraphBuilder b, Value? local, Value global, Value separator)
    {
        long p = global.Shape[2].Value;
        var parts = new List<Value>();
        if (local is not null) parts.Add(b.Reshape(local, local.Shape[0] * local.Shape[1], p));
        parts.Add(b.Reshape(global, global.Shape[1], p));
        parts.Add(b.Reshape(separator, 1, p));
        return b.Concat(0, [.. parts]);
    }

    /// <summary>One view through SAM, the Qwen2 encoder and the projector: pixels [N, 3, S, S] -> sam, encoder, projected.</summary>
    private static (Value Sam, Value Encoder, Value Projected) View(GraphBuilder b, DeepEncoder2Config cfg, Value pixels)
    {
        Value sam;
        using (b.Scope("sam_model")) sam = SamEncoder.Build(b, cfg.Sam, pixels);                     // [N, C, g2, g2]
        b.Trace("sam.net_3", sam);
        var (encoder, projected) = Encode(b, cfg, b.FlattenSpatial(sam));                           // visual [N, n, C]
        return (sam, encoder, projected);
    }

    /// <summary>
    /// The Qwen2 encoder over a view's visual tokens [N, n, C] (SAM's net_3 output, row-major): n queries of the table
    /// chosen by n appended, 2n tokens through the decoder stack with the mixed mask and positions 0..2n-1, the n query
    /// outputs kept (encoder [N, n, C]) and projected ([N, n, P]). Traces qwen2.inputs_embeds, qwen2.attention_mask,
    /// qwen2.layers.N, qwen2.norm as the reference's modules.
    /// </summary>
    public static (Value Encoder, Value Projected) Encode(GraphBuilder b, DeepEncoder2Config cfg, Value visual)
    {
        Dim batch = visual.Shape[0];
        int n = checked((int)visual.Shape[1].Value);
        long c = cfg.Qwen2.HiddenSize;
        string table = n == cfg.Queries.Query768 ? "query_768" : n == cfg.Queries.Query1024 ? "query_1024" : throw new GraphException(
            $"a view of {n} visual tokens has no query table: DeepSeek-OCR 2 has {cfg.Queries.Query768} (query_768, views.image_size " +
            $"{cfg.Views.ImageSize}) and {cfg.Queries.Query1024} (query_1024, views.base_size {cfg.Views.BaseSize})");
        var queries = b.Expand(b.Reshape(b.WeightByKey($"qwen2_model.{table}.weight", n, c), 1, n, c), batch, n, c);
        var x = b.Concat(1, visual, queries);                                                        // [N, 2n, C]
        b.Trace("qwen2.inputs_embeds", x);
        var mask = b.Expand(b.Constant($"qwen2.mask_{n}", MixedMask(n, MaskValue(b.ComputeType)), 1, 1, 2 * n, 2 * n),
            batch, 1, 2 * n, 2 * n);
        b.Trace("qwen2.attention_mask", mask);                                                       // [N, 1, 2n, 2n]
        var (cosData, sinData) = Qwen2Decoder.RotaryTables(2 * n, cfg.Qwen2.ResolvedHeadDim, cfg.Qwen2.RopeTheta);
        var cos = b.Constant($"qwen2.rotary_cos_{n}", cosData, 2 * n, cfg.Qwen2.ResolvedHeadDim);     // positions 0..2n-1
        var sin = b.Constant($"qwen2.rotary_sin_{n}", sinData, 2 * n, cfg.Qwen2.ResolvedHeadDim);
        Value y;
        using (b.Scope(Qwen2Scope)) y = Qwen2Decoder.Stack(b, x, cfg.Qwen2, mask, cos, sin, "qwen2"); // [N, 2n, C]
        var encoder = b.Slice(y, 1, n, 2 * n);                                                       // the query outputs
        return (encoder, b.Linear("projector.layers", encoder, c, cfg.Projector.OutputDim));
    }

    /// <summary>
    /// The query encoder alone: visual_tokens [B, n, C] (n = a query table's size) -> encoder [B, n, C], projected
    /// [B, n, P]. For checking the encoder's attention pattern independently of SAM (and for callers holding SAM features).
    /// </summary>
    public static Graph BuildEncoder(DeepEncoder2Config cfg, int tokens, DataType computeType = DataType.Float32)
    {
        cfg.Validate();
        var b = new GraphBuilder("deepencoder2-encoder", computeType);
        b.Graph.Metadata["architecture"] = "deepencoder2";
        b.Graph.Metadata["part"] = "encoder";
        var (encoder, projected) = Encode(b, cfg, b.Input("visual_tokens", Dim.Sym("B"), tokens, cfg.Qwen2.HiddenSize));
        b.Output("encoder", encoder);
        b.Output("projected", projected);
        return b.Graph;
    }

    /// <summary>Additive value of a masked score in float32: torch.finfo(float32).min, as the original's mask.</summary>
    public const float Masked = float.MinValue;

    /// <summary>
    /// torch.finfo(dtype).min of the compute type (the original builds its mask in the model's dtype): float32 min for
    /// f32, -65504 for f16 and -3.3895314e38 for bf16, so the constant stays finite (f32 min would round to -inf there).
    /// </summary>
    public static float MaskValue(DataType computeType) => computeType switch
    {
        DataType.Float16 => -65504f,
        DataType.BFloat16 => -3.3895314e38f,
        _ => Masked,
    };

    /// <summary>
    /// The [2n, 2n] mask of Qwen2Decoder2Encoder (token types: n visual tokens (0) then n queries (1)): row i &lt; n
    /// (visual) sees columns 0..n-1; row n+i (query i) sees columns 0..n-1 and n..n+i; everything else is
    /// <paramref name="masked"/>. Every row sees at least one column, so softmax never meets an all-masked row.
    /// </summary>
    public static float[] MixedMask(int n, float masked = Masked)
    {
        int s = 2 * n;
        var mask = new float[(long)s * s];
        for (int r = 0; r < s; r++)
            for (int col = 0; col < s; col++)
                mask[(long)r * s + col] = col < n || (r >= n && col <= r) ? 0f : masked;
        return mask;
    }
}
