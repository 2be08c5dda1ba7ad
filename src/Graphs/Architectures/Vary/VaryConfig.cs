using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Vary;

/// <summary>Vary's two projections: mm_projector (CLIP branch) and mm_projector_vary (SAM branch), concatenated on channels.</summary>
public sealed record VaryProjectorConfig
{
    /// <summary>CLIP width (mm_projector's input).</summary>
    public int ClipIn { get; init; } = 1024;

    /// <summary>SAM net_3 channels (mm_projector_vary's input).</summary>
    public int SamIn { get; init; } = 1024;

    /// <summary>Each projection's output; image_features has twice this many channels (released: 2048 + 2048 = Qwen-7B's 4096).</summary>
    public int OutputDimEach { get; init; } = 2048;

    /// <summary>"channels" (the only fusion Vary has).</summary>
    public string Concat { get; init; } = "channels";
}

/// <summary>
/// Vary (vary_qwen_vary.py) vision hyperparameters; <see cref="Default"/> is the release: SAM-B at 1024 (vision_tower_high)
/// + CLIP-L/14 at 224 (vision_tower, hidden_states[-2]), 256 tokens of 4096. JSON form: the golden fixture.json's
/// ("sam", "clip", "projector", "vision_select_layer").
/// </summary>
public sealed record VaryConfig
{
    public SamConfig Sam { get; init; } = new();
    public ClipConfig Clip { get; init; } = new();
    public VaryProjectorConfig Projector { get; init; } = new();

    /// <summary>Index into CLIP's hidden_states (0 = after pre_layrnorm, -1 = last layer); released: -2.</summary>
    public int VisionSelectLayer { get; init; } = -2;

    public static VaryConfig Default { get; } = new();

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
    };

    /// <summary>Reads a fixture.json-style document; missing fields keep the defaults, other fields are ignored.</summary>
    public static VaryConfig FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        VaryConfig cfg;
        try
        {
            cfg = root.Deserialize<VaryConfig>(Json) ?? new();
        }
        catch (JsonException ex)
        {
            throw ConfigErrors.From(null, ex);
        }
        cfg.Validate();
        return cfg;
    }

    /// <summary>CLIP's hidden_states index as a non-negative position in its L+1 states.</summary>
    public int SelectedState => VisionSelectLayer < 0 ? Clip.NumLayers + 1 + VisionSelectLayer : VisionSelectLayer;

    /// <summary>Token count per image (both towers must agree on it).</summary>
    public int Tokens => Clip.PosGrid * Clip.PosGrid;

    /// <summary>Checks that the parts fit together; throws GraphException naming the field.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new GraphException("config: " + message);
        }
        Sam.Validate();
        Clip.Validate();
        ModelBounds.Check(this);
        int samGrid = Sam.Grids(Sam.ImageSize).OutputGrid;
        Require(samGrid * samGrid == Tokens,
            $"sam gives {samGrid * samGrid} tokens but clip gives {Tokens}: concatenating on channels needs equal counts");
        Require(VisionSelectLayer >= -(Clip.NumLayers + 1) && VisionSelectLayer <= Clip.NumLayers,
            $"vision_select_layer {VisionSelectLayer} must index the {Clip.NumLayers + 1} hidden states");
        Require(Projector.ClipIn == Clip.HiddenSize, $"projector.clip_in {Projector.ClipIn} must equal clip.hidden_size {Clip.HiddenSize}");
        Require(Projector.SamIn == Sam.Net3Channels, $"projector.sam_in {Projector.SamIn} must equal sam.net3_channels {Sam.Net3Channels}");
        Require(Projector.OutputDimEach > 0, "projector.output_dim_each must be positive");
        Require(Projector.Concat == "channels", $"projector.concat '{Projector.Concat}' is not supported (only 'channels', as released)");
    }
}
