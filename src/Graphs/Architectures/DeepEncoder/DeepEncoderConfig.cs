using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>SAM-B image encoder (DeepSeek-OCR's sam_model). Defaults are the released model's.</summary>
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
}

/// <summary>CLIP-L (DeepSeek-OCR's vision_model), fed with SAM features instead of its own patch embedding.</summary>
public sealed record ClipConfig
{
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 14;
    public int HiddenSize { get; init; } = 1024;
    public int NumLayers { get; init; } = 24;
    public int NumHeads { get; init; } = 16;
    public int FfnHiddenSize { get; init; } = 4096;
    public double LayerNormEps { get; init; } = 1e-5;
    public string Activation { get; init; } = "quick_gelu";

    public int PosGrid => ImageSize / PatchSize;
}

/// <summary>The linear projector from [CLIP | SAM] features to the language model's width.</summary>
public sealed record ProjectorConfig
{
    public string Type { get; init; } = "linear";
    public int InputDim { get; init; } = 2048;
    public int OutputDim { get; init; } = 1280;
}

/// <summary>
/// DeepSeek-OCR DeepEncoder hyperparameters; <see cref="Default"/> is the released model (401,369,600 vision
/// parameters). The JSON form is the golden fixture.json's ("sam", "clip", "projector" objects, snake_case).
/// </summary>
public sealed record DeepEncoderConfig
{
    public SamConfig Sam { get; init; } = new();
    public ClipConfig Clip { get; init; } = new();
    public ProjectorConfig Projector { get; init; } = new();

    public static DeepEncoderConfig Default { get; } = new();

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
    };

    /// <summary>Reads the "sam"/"clip"/"projector" objects of a fixture.json-style document; missing fields keep defaults.</summary>
    public static DeepEncoderConfig FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        T Part<T>(string name) where T : new()
        {
            if (!root.TryGetProperty(name, out var e)) return new T();
            try
            {
                return e.Deserialize<T>(Json) ?? new T();
            }
            catch (JsonException ex)
            {
                throw new GraphException($"config \"{name}\": {ex.Message.Split('.')[0]} (at {ex.Path})");
            }
        }
        var cfg = new DeepEncoderConfig { Sam = Part<SamConfig>("sam"), Clip = Part<ClipConfig>("clip"), Projector = Part<ProjectorConfig>("projector") };
        cfg.Validate();
        return cfg;
    }

    /// <summary>Checks that the parts fit together; throws GraphException naming the field.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new GraphException("config: " + message);
        }
        // JSON null deserializes into these reference-typed fields despite their defaults; refuse it before use.
        if (Sam.GlobalAttnIndexes is null) throw new GraphException("config: sam.global_attn_indexes must be an array of block indexes, not null");
        if (Clip.Activation is null) throw new GraphException("config: clip.activation must be a string, not null");
        if (Projector.Type is null) throw new GraphException("config: projector.type must be a string, not null");
        Require(Sam.PatchSize > 0 && Sam.ImageSize > 0 && Sam.ImageSize % Sam.PatchSize == 0, $"sam.image_size {Sam.ImageSize} must be a positive multiple of sam.patch_size {Sam.PatchSize}");
        Require(Sam.EmbedDim > 0 && Sam.NumHeads > 0 && Sam.EmbedDim % Sam.NumHeads == 0, $"sam.embed_dim {Sam.EmbedDim} must be divisible by sam.num_heads {Sam.NumHeads}");
        Require(Sam.Depth > 0 && Sam.WindowSize > 0 && Sam.MlpRatio > 0, "sam.depth, sam.window_size and sam.mlp_ratio must be positive");
        Require(Sam.GlobalAttnIndexes.All(i => i >= 0 && i < Sam.Depth), $"sam.global_attn_indexes must lie in 0..{Sam.Depth - 1}");
        Require(Sam.NeckChannels > 0 && Sam.Net2Channels > 0, "sam.neck_channels and sam.net2_channels must be positive");
        Require(Sam.Net3Channels == Clip.HiddenSize, $"sam.net3_channels {Sam.Net3Channels} must equal clip.hidden_size {Clip.HiddenSize} (CLIP reads SAM's features)");
        Require(Clip.PatchSize > 0 && Clip.ImageSize % Clip.PatchSize == 0, $"clip.image_size {Clip.ImageSize} must be a multiple of clip.patch_size {Clip.PatchSize}");
        Require(Clip.NumLayers > 0 && Clip.NumHeads > 0 && Clip.HiddenSize % Clip.NumHeads == 0, $"clip.hidden_size {Clip.HiddenSize} must be divisible by clip.num_heads {Clip.NumHeads}");
        Require(Clip.FfnHiddenSize > 0, "clip.ffn_hidden_size must be positive");
        Blocks.Activations.Parse(Clip.Activation);
        Require(Projector.Type == "linear", $"projector.type '{Projector.Type}' is not supported (only 'linear', as released)");
        Require(Projector.InputDim == Clip.HiddenSize + Sam.Net3Channels, $"projector.input_dim {Projector.InputDim} must equal clip.hidden_size + sam.net3_channels = {Clip.HiddenSize + Sam.Net3Channels}");
        Require(Projector.OutputDim > 0, "projector.output_dim must be positive");
    }

    /// <summary>SAM patch grid, CLIP grid and token count for an input of the given size (square).</summary>
    public (int SamGrid, int ClipGrid, int Tokens) Grids(int imageSize)
    {
        if (imageSize <= 0 || imageSize % Sam.PatchSize != 0)
            throw new GraphException($"image size {imageSize} must be a positive multiple of the SAM patch size {Sam.PatchSize}");
        int g = imageSize / Sam.PatchSize;
        int g2 = (g + 1) / 2;          // net_2: 3x3, stride 2, pad 1 -> ceil(g/2)
        g2 = (g2 + 1) / 2;             // net_3: same
        return (g, g2, g2 * (g2 + 1) + 1);
    }
}
