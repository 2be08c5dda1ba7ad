using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

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
                throw ConfigErrors.From(name, ex);
            }
        }
        var cfg = new DeepEncoderConfig
        {
            Sam = Part<SamConfig>("sam"), Clip = Part<ClipConfig>("clip"), Projector = Part<ProjectorConfig>("projector"),
        };
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
        Sam.Validate();
        Clip.Validate();
        // JSON null deserializes into reference-typed fields despite their defaults; refuse it before use.
        if (Projector.Type is null) throw new GraphException("config: projector.type must be a string, not null");
        Require(Sam.Net3Channels == Clip.HiddenSize,
            $"sam.net3_channels {Sam.Net3Channels} must equal clip.hidden_size {Clip.HiddenSize} (CLIP reads SAM's features)");
        Require(Projector.Type == "linear", $"projector.type '{Projector.Type}' is not supported (only 'linear', as released)");
        Require(Projector.InputDim == Clip.HiddenSize + Sam.Net3Channels,
            $"projector.input_dim {Projector.InputDim} must equal clip.hidden_size + sam.net3_channels = " +
            $"{Clip.HiddenSize + Sam.Net3Channels}");
        Require(Projector.OutputDim > 0, "projector.output_dim must be positive");
        ModelBounds.Check(this);
    }

    /// <summary>SAM patch grid, CLIP grid and token count for an input of the given size (square).</summary>
    public (int SamGrid, int ClipGrid, int Tokens) Grids(int imageSize)
    {
        var (g, g2) = Sam.Grids(imageSize);
        return (g, g2, g2 * (g2 + 1) + 1);
    }
}
