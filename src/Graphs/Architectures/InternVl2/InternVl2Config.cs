using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>InternViT (OpenGVLab modeling_intern_vit.py). Defaults are InternViT-300M-448px (InternVL2-1B/2B/4B/8B).</summary>
public sealed record InternVitConfig
{
    public int ImageSize { get; init; } = 448;
    public int PatchSize { get; init; } = 14;
    public int HiddenSize { get; init; } = 1024;
    public int NumLayers { get; init; } = 24;
    public int NumHeads { get; init; } = 16;
    public int FfnHiddenSize { get; init; } = 4096;
    public bool QkvBias { get; init; } = true;

    /// <summary>"layer_norm" (InternViT-300M: nn.LayerNorm) or "rms_norm" (InternViT-6B: InternRMSNorm, weight only).</summary>
    public string NormType { get; init; } = "layer_norm";

    /// <summary>InternViT-6B: RMSNorm of q and k over the full hidden width (q_norm, k_norm) before the head split.</summary>
    public bool QkNormalization { get; init; }
    public double LayerNormEps { get; init; } = 1e-6;
    public string Activation { get; init; } = "gelu";

    /// <summary>ls1/ls2 per layer (always present in released InternViT).</summary>
    public bool LayerScale { get; init; } = true;

    /// <summary>Descriptive only: the table is always resized bicubic without antialias (the one behaviour the reference has).</summary>
    public string PositionInterpolation { get; init; } = "bicubic, no antialias, always";

    /// <summary>Patch grid of the checkpoint's position table.</summary>
    public int PosGrid => ImageSize / PatchSize;
}

/// <summary>mlp1: LayerNorm(in) -> Linear(in, hidden) -> GELU -> Linear(hidden, hidden); hidden = the language model's width.</summary>
public sealed record InternVlMlpConfig
{
    /// <summary>vit hidden * (1 / downsample_ratio)²: 4096 for InternViT-300M.</summary>
    public int In { get; init; } = 4096;

    /// <summary>Language model width; default InternVL2-8B's (InternLM2.5-7B, 4096).</summary>
    public int Hidden { get; init; } = 4096;
}

/// <summary>
/// InternVL 2.0 vision hyperparameters; <see cref="Default"/> is InternVL2-8B's (InternViT-300M-448px + mlp1 to 4096).
/// The JSON form is the golden fixture.json's ("vit", "downsample_ratio", "select_layer", "mlp1"; snake_case).
/// </summary>
public sealed record InternVl2Config
{
    public InternVitConfig Vit { get; init; } = new();

    /// <summary>pixel_shuffle scale factor; 1/ratio must be an integer (0.5: 2x2 patches -> one token).</summary>
    public double DownsampleRatio { get; init; } = 0.5;

    /// <summary>Index into the ViT's hidden states (transformers convention; -1 = last layer, no final norm).</summary>
    public int SelectLayer { get; init; } = -1;

    public InternVlMlpConfig Mlp1 { get; init; } = new();

    /// <summary>
    /// How the checkpoint names the tensors: "original" (OpenGVLab: vision_model.*, mlp1.*, packed qkv), "hf"
    /// (transformers' InternVLForConditionalGeneration, the "-hf" releases: vision_tower.*, multi_modal_projector.*, q/k/v
    /// apart) or "hf-model" (the same under "model."). Set from the checkpoint's keys (see <see cref="InternVl2Layouts"/>).
    /// </summary>
    public string CheckpointLayout { get; init; } = "original";

    /// <summary>Default tile size of an export (InternVLChatConfig.force_image_size); null = vit.image_size.</summary>
    public int? TileSize { get; init; }

    public static InternVl2Config Default { get; } = new();

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
    };

    /// <summary>Reads a fixture.json-style document; missing fields keep the defaults, other fields are ignored.</summary>
    public static InternVl2Config FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        InternVl2Config cfg;
        try
        {
            cfg = root.Deserialize<InternVl2Config>(Json) ?? new();
        }
        catch (JsonException ex)
        {
            throw ConfigErrors.From(null, ex);
        }
        cfg.Validate();
        return cfg;
    }

    /// <summary>The pixel-shuffle factor k = 1 / downsample_ratio (k x k patches become one token).</summary>
    public int ShuffleFactor => (int)Math.Round(1 / DownsampleRatio);

    /// <summary>Checks that the parts fit together; throws GraphException naming the field.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new GraphException("config: " + message);
        }
        var v = Vit;
        Require(v.PatchSize > 0 && v.ImageSize > 0 && v.ImageSize % v.PatchSize == 0,
            $"vit.image_size {v.ImageSize} must be a positive multiple of vit.patch_size {v.PatchSize}");
        Require(v.NumLayers > 0 && v.NumHeads > 0 && v.HiddenSize % v.NumHeads == 0,
            $"vit.hidden_size {v.HiddenSize} must be divisible by vit.num_heads {v.NumHeads}");
        Require(v.FfnHiddenSize > 0, "vit.ffn_hidden_size must be positive");
        Require(v.NormType is "layer_norm" or "rms_norm",
            $"vit.norm_type '{v.NormType}' is not supported (expected 'layer_norm' or 'rms_norm')");
        Require(v.LayerNormEps > 0, "vit.layer_norm_eps must be positive");
        Require(InternVl2Layouts.All.Contains(CheckpointLayout),
            $"checkpoint_layout '{CheckpointLayout}' is not one of {string.Join(", ", InternVl2Layouts.All)}");
        Blocks.Activations.Parse(v.Activation);
        Require(DownsampleRatio > 0 && DownsampleRatio <= 1 && Math.Abs(1 / DownsampleRatio - ShuffleFactor) < 1e-9,
            $"downsample_ratio {DownsampleRatio} must be 1/k for an integer k");
        Require(SelectLayer >= -(v.NumLayers + 1) && SelectLayer <= v.NumLayers,
            $"select_layer {SelectLayer} must index the {v.NumLayers + 1} hidden states");
        long k = ShuffleFactor;
        Require(Mlp1.In == v.HiddenSize * k * k,
            $"mlp1.in {Mlp1.In} must equal vit.hidden_size * (1/downsample_ratio)² = {v.HiddenSize * k * k}");
        Require(Mlp1.Hidden > 0, "mlp1.hidden must be positive");
        Require(v.LayerNormEps > 0 && double.IsFinite(v.LayerNormEps), $"vit.layer_norm_eps {v.LayerNormEps} must be a positive number");
        ModelBounds.Check(this);
    }

    /// <summary>Patch grid g and token grid g/k of a square tile; g must be a multiple of k.</summary>
    public (int PatchGrid, int TokenGrid) Grids(int imageSize)
    {
        int k = ShuffleFactor;
        if (imageSize <= 0 || imageSize % Vit.PatchSize != 0 || imageSize / Vit.PatchSize % k != 0)
            throw new GraphException(
                $"image size {imageSize} must be a positive multiple of the patch size {Vit.PatchSize} times {k} (pixel shuffle)");
        int g = imageSize / Vit.PatchSize;
        return (g, g / k);
    }
}
