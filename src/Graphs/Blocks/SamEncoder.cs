using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// SAM-B image encoder as used by DeepSeek-OCR (sam_model) and Vary (vision_tower_high): ViTDet blocks with window
/// attention, a few global blocks, decomposed relative positions, the neck and the two stride-2 convs net_2/net_3.
/// Defaults are the released model's (both families ship the same SAM-B shape). JSON form: fixture.json's "sam" object.
/// </summary>
public sealed record SamConfig
{
    public int ImageSize { get; init; } = 1024;
    public int PatchSize { get; init; } = 16;
    public int EmbedDim { get; init; } = 768;
    public int Depth { get; init; } = 12;
    public int NumHeads { get; init; } = 12;
    public double MlpRatio { get; init; } = 4;
    public int WindowSize { get; init; } = 14;
    public int[] GlobalAttnIndexes { get; init; } = [2, 5, 8, 11];
    public int NeckChannels { get; init; } = 256;
    public int Net2Channels { get; init; } = 512;
    public int Net3Channels { get; init; } = 1024;
    public double LayerNormEps { get; init; } = 1e-6;

    /// <summary>Patch grid of the checkpoint's position table (image_size / patch_size).</summary>
    public int PosGrid => ImageSize / PatchSize;

    /// <summary>Checks the fields on their own; throws GraphException naming the field ("sam.depth ...").</summary>
    public void Validate()
    {
        Config.Require(PatchSize > 0 && ImageSize > 0 && ImageSize % PatchSize == 0,
            $"sam.image_size {ImageSize} must be a positive multiple of sam.patch_size {PatchSize}");
        Config.Require(EmbedDim > 0 && NumHeads > 0 && EmbedDim % NumHeads == 0,
            $"sam.embed_dim {EmbedDim} must be divisible by sam.num_heads {NumHeads}");
        Config.Require(Depth > 0 && WindowSize > 0 && MlpRatio > 0, "sam.depth, sam.window_size and sam.mlp_ratio must be positive");
        Config.Require(GlobalAttnIndexes is not null, "sam.global_attn_indexes must be an array of block indexes, not null");
        Config.Require(GlobalAttnIndexes!.All(i => i >= 0 && i < Depth), $"sam.global_attn_indexes must lie in 0..{Depth - 1}");
        Config.Require(NeckChannels > 0 && Net2Channels > 0 && Net3Channels > 0,
            "sam.neck_channels, sam.net2_channels and sam.net3_channels must be positive");
        Config.Require(LayerNormEps > 0 && double.IsFinite(LayerNormEps), $"sam.layer_norm_eps {LayerNormEps} must be a positive number");
    }

    /// <summary>Largest input side accepted: 4x the largest released mode, bounding export-time tables and attention size.</summary>
    public const int MaxImageSize = 5120;

    /// <summary>Patch grid g of a square input, and the grid after net_2 and net_3 (3x3, stride 2, pad 1: ceil twice).</summary>
    public (int PatchGrid, int OutputGrid) Grids(int imageSize)
    {
        if (imageSize <= 0 || imageSize % PatchSize != 0)
            throw new GraphException($"image size {imageSize} must be a positive multiple of the SAM patch size {PatchSize}");
        if (imageSize > MaxImageSize)
            throw new GraphException(
                $"image size {imageSize} is above the supported {MaxImageSize} (global attention is quadratic in the token count; " +
                $"the largest released mode uses 1280)");
        int g = imageSize / PatchSize;
        int g2 = ((g + 1) / 2 + 1) / 2;
        return (g, g2);
    }
}

/// <summary>Config checks shared by the families' records.</summary>
internal static class Config
{
    public static void Require(bool ok, string message)
    {
        if (!ok) throw new GraphException("config: " + message);
    }
}

/// <summary>
/// The SAM-B encoder: pixels [B, 3, S, S] -> net_3 features [B, C3, g2, g2], g2 = ceil(ceil(S/p / 2) / 2). Weight keys
/// are the reference module names under the caller's scope (patch_embed.proj, pos_embed, blocks.N, neck.0..3, net_2, net_3).
/// The position table is resized (antialiased bicubic, export-time constant) when S differs from the training size.
/// Traces "sam.patch_embed", "sam.blocks.N", "sam.neck", "sam.net_2" name the reference's sub-modules.
/// Reference: DeepSeek-OCR deepencoder/sam_vary_sdpa.py and Vary vary/model/vision_encoder/sam.py (ImageEncoderViT).
/// </summary>
public static class SamEncoder
{
    public static Value Build(GraphBuilder b, SamConfig c, Value pixels)
    {
        long size = pixels.Shape[3].Value;
        int grid = c.Grids((int)size).PatchGrid;
        var patches = b.Conv2d("patch_embed.proj", pixels, 3, c.EmbedDim, c.PatchSize, c.PatchSize);
        var x = b.Transpose(patches, 0, 2, 3, 1);                                                 // [B, g, g, C]
        b.Trace("sam.patch_embed", x);
        var pos = PositionTables.ResizeGrid(b, b.Weight("pos_embed", 1, c.PosGrid, c.PosGrid, c.EmbedDim), c.PosGrid, grid, c.EmbedDim,
            "pos_embed.resized");
        x = b.Add(x, pos);

        var opts = new VitBlockOptions(c.EmbedDim, c.NumHeads, (long)(c.EmbedDim * c.MlpRatio), Activation.Gelu, c.LayerNormEps,
            Fc1: "lin1", Fc2: "lin2");
        long headDim = c.EmbedDim / c.NumHeads;
        for (int i = 0; i < c.Depth; i++)
        {
            bool global = c.GlobalAttnIndexes.Contains(i);
            int trained = global ? c.PosGrid : c.WindowSize;   // rel-pos tables have 2*trained-1 rows
            using (b.Scope($"blocks.{i}"))
                x = VitBlock.Apply(b, x, opts, normed => global
                    ? RelPosAttention(b, normed, opts, trained, headDim)
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
    private static Value RelPosAttention(GraphBuilder b, Value x, VitBlockOptions o, int trained, long headDim)
    {
        Dim n = x.Shape[0];
        long h = x.Shape[1].Value, w = x.Shape[2].Value;
        var relH = b.Weight("rel_pos_h", 2 * trained - 1, headDim);
        var relW = b.Weight("rel_pos_w", 2 * trained - 1, headDim);
        var rhT = RelPos.GatheredTable(b, relH, (int)h, "rel_pos_h.gathered");
        var rwT = RelPos.GatheredTable(b, relW, (int)w, "rel_pos_w.gathered");
        var tokens = b.Reshape(x, n, h * w, o.Dim);                                                // [N, H*W, C]
        var y = b.SelfAttention(tokens, o.AttentionOptions, q => RelPos.Bias(b, q, rhT, rwT, h, w));
        return b.Reshape(y, n, h, w, o.Dim);                                                       // [N, H, W, C]
    }

    private static Value WindowedAttention(GraphBuilder b, Value x, VitBlockOptions o, int ws, long headDim)
    {
        Dim batch = x.Shape[0];
        long h = x.Shape[1].Value, w = x.Shape[2].Value;
        var (windows, hp, wp) = b.Partition(x, ws);                                              // [B*nW, ws, ws, C]
        var y = RelPosAttention(b, windows, o, ws, headDim);
        return b.Unpartition(y, batch, ws, hp, wp, h, w);                                          // [B, H, W, C]
    }
}
