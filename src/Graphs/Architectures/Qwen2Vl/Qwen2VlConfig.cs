using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>
/// Qwen2-VL vision tower hyperparameters (transformers' Qwen2VLVisionConfig). Defaults are the released
/// Qwen2-VL-7B vision encoder (675M parameters; the 2B model differs only in <see cref="HiddenSize"/> = 1536).
/// The JSON form is fixture.json's "vit" object (snake_case).
/// </summary>
public sealed record Qwen2VlVisionConfig
{
    /// <summary>Number of transformer blocks.</summary>
    public int Depth { get; init; } = 32;

    /// <summary>Width of the tower (patch embedding and blocks).</summary>
    public int EmbedDim { get; init; } = 1280;

    /// <summary>Attention heads per block.</summary>
    public int NumHeads { get; init; } = 16;

    /// <summary>MLP hidden width / embed_dim.</summary>
    public double MlpRatio { get; init; } = 4;

    /// <summary>Output width of the PatchMerger (the language model's width).</summary>
    public int HiddenSize { get; init; } = 3584;

    /// <summary>Block MLP activation (quick_gelu as released).</summary>
    public string Activation { get; init; } = "quick_gelu";

    /// <summary>Spatial patch size in pixels.</summary>
    public int PatchSize { get; init; } = 14;

    /// <summary>Frames per temporal patch (an image is repeated to fill it).</summary>
    public int TemporalPatchSize { get; init; } = 2;

    /// <summary>Side of the square patch window the merger folds into one token (2: 4 patches per token).</summary>
    public int SpatialMergeSize { get; init; } = 2;

    /// <summary>Input channels (RGB).</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Epsilon of norm1/norm2 and the merger's ln_q (hard-coded 1e-6 in the reference).</summary>
    public double LayerNormEps { get; init; } = 1e-6;

    /// <summary>Base of the rotary frequencies.</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>Per-head width.</summary>
    public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Values of one packed patch row: channels x temporal x patch x patch (1176 as released).</summary>
    public int PatchValues => InChannels * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Patches folded into one output token (spatial_merge_size²).</summary>
    public int MergeUnit => SpatialMergeSize * SpatialMergeSize;

    /// <summary>The released configuration.</summary>
    public static Qwen2VlVisionConfig Default { get; } = new();

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
        WriteIndented = true,
    };

    /// <summary>Reads the "vit" object of a fixture.json-style document; missing fields keep the defaults.</summary>
    public static Qwen2VlVisionConfig FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        Qwen2VlVisionConfig cfg = new();
        if (root.TryGetProperty("vit", out var e))
        {
            try
            {
                cfg = e.Deserialize<Qwen2VlVisionConfig>(Json) ?? new();
            }
            catch (JsonException ex)
            {
                throw ConfigErrors.From("vit", ex);
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
        Require(Depth > 0 && EmbedDim > 0 && NumHeads > 0 && HiddenSize > 0 && MlpRatio > 0,
            "vit.depth, embed_dim, num_heads, hidden_size and mlp_ratio must be positive");
        Require(EmbedDim % NumHeads == 0, $"vit.embed_dim {EmbedDim} must be divisible by vit.num_heads {NumHeads}");
        // The 2D rotary table splits each head in h and w halves of cos/sin pairs: head_dim must be a multiple of 4.
        Require(HeadDim % 4 == 0, $"vit head_dim {HeadDim} must be a multiple of 4 (2D rotary embedding)");
        Require(PatchSize > 0 && TemporalPatchSize > 0 && SpatialMergeSize > 0 && InChannels > 0,
            "vit.patch_size, temporal_patch_size, spatial_merge_size and in_channels must be positive");
        Require(RopeTheta > 0 && LayerNormEps > 0, "vit.rope_theta and vit.layer_norm_eps must be positive");
        Blocks.Activations.Parse(Activation);
        ModelBounds.Check(this);
    }
}
