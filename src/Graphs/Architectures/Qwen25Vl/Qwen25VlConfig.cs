using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen25Vl;

/// <summary>
/// Qwen2.5-VL vision tower hyperparameters (transformers' Qwen2_5_VLVisionConfig). Defaults are the released
/// Qwen2.5-VL-7B vision encoder (hf-configs Qwen2.5-VL-7B-Instruct vision_config; the 3B model differs only in
/// <see cref="OutHiddenSize"/> = 2048). The JSON form is fixture.json's "vit" object (snake_case; the HF config calls
/// <see cref="EmbedDim"/> hidden_size and <see cref="InChannels"/> in_chans).
/// </summary>
public sealed record Qwen25VlVisionConfig
{
    /// <summary>Number of transformer blocks.</summary>
    public int Depth { get; init; } = 32;

    /// <summary>Width of the tower (patch embedding and blocks).</summary>
    public int EmbedDim { get; init; } = 1280;

    /// <summary>Attention heads per block.</summary>
    public int NumHeads { get; init; } = 16;

    /// <summary>Width of the SwiGLU MLP (gate_proj / up_proj outputs).</summary>
    public int IntermediateSize { get; init; } = 3420;

    /// <summary>Output width of the PatchMerger (the language model's width).</summary>
    public int OutHiddenSize { get; init; } = 3584;

    /// <summary>The SwiGLU gate activation; only "silu" (x * sigmoid(x)), as released.</summary>
    public string HiddenAct { get; init; } = "silu";

    /// <summary>Spatial patch size in pixels.</summary>
    public int PatchSize { get; init; } = 14;

    /// <summary>Frames per temporal patch (an image is repeated to fill it).</summary>
    public int TemporalPatchSize { get; init; } = 2;

    /// <summary>Side of the square patch window the merger folds into one token (2: 4 patches per token).</summary>
    public int SpatialMergeSize { get; init; } = 2;

    /// <summary>Input channels (RGB).</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Side of an attention window in pixels (112 as released: 4x4 merge units, 8x8 patches).</summary>
    public int WindowSize { get; init; } = 112;

    /// <summary>Blocks with full (per-frame) attention; every other block attends inside its window.</summary>
    public IReadOnlyList<int> FullattBlockIndexes { get; init; } = [7, 15, 23, 31];

    /// <summary>Epsilon of every RMSNorm (norm1, norm2, merger.ln_q; hard-coded 1e-6 in the reference).</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Base of the rotary frequencies.</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>Per-head width.</summary>
    public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Values of one packed patch row: channels x temporal x patch x patch (1176 as released).</summary>
    public int PatchValues => InChannels * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Patches folded into one output token (spatial_merge_size²).</summary>
    public int MergeUnit => SpatialMergeSize * SpatialMergeSize;

    /// <summary>Side of a window in merge units (the original's vit_merger_window_size).</summary>
    public int WindowUnits => WindowSize / SpatialMergeSize / PatchSize;

    /// <summary>Patch slots of a (padded) window: (window_size / patch_size)².</summary>
    public int WindowSlots => WindowUnits * WindowUnits * MergeUnit;

    /// <summary>The released configuration.</summary>
    public static Qwen25VlVisionConfig Default { get; } = new();

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
        WriteIndented = true,
    };

    /// <summary>Reads the "vit" object of a fixture.json-style document; missing fields keep the defaults.</summary>
    public static Qwen25VlVisionConfig FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        Qwen25VlVisionConfig cfg = new();
        if (root.TryGetProperty("vit", out var e))
        {
            try
            {
                cfg = e.Deserialize<Qwen25VlVisionConfig>(Json) ?? new();
            }
            catch (JsonException ex)
            {
                throw new GraphException($"config \"vit\": {ex.Message.Split('.')[0]} (at {ex.Path})");
            }
        }
        cfg.Validate();
        return cfg;
    }

    /// <summary>Checks that the sizes fit together; throws GraphException naming the field.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new GraphException("config: " + message);
        }
        Require(Depth > 0 && EmbedDim > 0 && NumHeads > 0 && IntermediateSize > 0 && OutHiddenSize > 0,
            "vit.depth, embed_dim, num_heads, intermediate_size and out_hidden_size must be positive");
        Require(Depth <= 1024, $"vit.depth {Depth} is not a plausible block count");
        Require(EmbedDim % NumHeads == 0, $"vit.embed_dim {EmbedDim} must be divisible by vit.num_heads {NumHeads}");
        // The 2D rotary table splits each head in h and w halves of cos/sin pairs: head_dim must be a multiple of 4.
        Require(HeadDim % 4 == 0, $"vit head_dim {HeadDim} must be a multiple of 4 (2D rotary embedding)");
        Require(PatchSize > 0 && TemporalPatchSize > 0 && SpatialMergeSize > 0 && InChannels > 0,
            "vit.patch_size, temporal_patch_size, spatial_merge_size and in_channels must be positive");
        Require(WindowSize > 0 && WindowSize % (PatchSize * SpatialMergeSize) == 0,
            $"vit.window_size {WindowSize} must be a positive multiple of patch_size x spatial_merge_size " +
            $"({PatchSize * SpatialMergeSize})");
        Require(WindowUnits <= 256, $"vit.window_size {WindowSize} is larger than any image (over 256 merge units a side)");
        Require(FullattBlockIndexes is not null && FullattBlockIndexes.All(i => i >= 0 && i < Depth),
            $"vit.fullatt_block_indexes must lie in [0, {Depth})");
        Require(RopeTheta > 0 && RmsNormEps > 0, "vit.rope_theta and vit.rms_norm_eps must be positive");
        Require(HiddenAct == "silu", $"vit.hidden_act '{HiddenAct}': only silu (the released SwiGLU) is supported");
    }
}
