using System.Text.Json;
using System.Text.Json.Serialization;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder2;

/// <summary>
/// The learnable query tables of DeepSeek-OCR 2's encoder (Qwen2Decoder2Encoder.query_768 / query_1024, nn.Embedding
/// rows). The original picks the table by the visual-token COUNT of a view: 144 tokens (a 768 crop) -> query_768,
/// 256 tokens (the 1024 global view) -> query_1024; any other count has no table. JSON: fields of the "qwen2" object.
/// </summary>
public sealed record QueryTables
{
    /// <summary>Rows of query_768 (= visual tokens of a local crop: (768/16/4)^2 = 144 released).</summary>
    [JsonPropertyName("query_768")]
    public int Query768 { get; init; } = 144;

    /// <summary>Rows of query_1024 (= visual tokens of the global view: (1024/16/4)^2 = 256 released).</summary>
    [JsonPropertyName("query_1024")]
    public int Query1024 { get; init; } = 256;
}

/// <summary>
/// The views of DeepSeek-OCR 2's processor (config.py / process/image_process.py): a BaseSize global view and
/// ImageSize local crops, MinCrops..MaxCrops of them, cut only when a side exceeds ImageSize. JSON: "views".
/// </summary>
public sealed record ViewsConfig
{
    /// <summary>Side of the padded global view (BASE_SIZE).</summary>
    public int BaseSize { get; init; } = 1024;

    /// <summary>Side of a local crop (IMAGE_SIZE); also the no-crop limit (images up to it on both sides are not cropped).</summary>
    public int ImageSize { get; init; } = 768;

    /// <summary>Fewest crops of the tiling rule (MIN_CROPS).</summary>
    public int MinCrops { get; init; } = 2;

    /// <summary>Most crops of the tiling rule (MAX_CROPS).</summary>
    public int MaxCrops { get; init; } = 6;
}

/// <summary>
/// DeepSeek-OCR 2's DeepEncoder V2 hyperparameters; <see cref="Default"/> is the released model (SAM-B with net_3 896,
/// Qwen2-0.5B's 24 layers as the encoder, query tables 144/256, linear projector 896 -> 1280). JSON form: fixture.json's
/// "sam", "qwen2" (with query_768 / query_1024), "projector" (type, input_dim, output_dim) and "views" objects.
/// </summary>
public sealed record DeepEncoder2Config
{
    /// <summary>SAM-B; net_3 widens to the Qwen2 hidden size (896 released).</summary>
    public SamConfig Sam { get; init; } = new() { Net3Channels = 896 };

    /// <summary>The Qwen2 decoder used as an encoder.</summary>
    public Qwen2Config Qwen2 { get; init; } = new();

    /// <summary>Query table sizes.</summary>
    public QueryTables Queries { get; init; } = new();

    /// <summary>Linear projector to the language model's width.</summary>
    public ProjectorConfig Projector { get; init; } = new() { InputDim = 896, OutputDim = 1280 };

    /// <summary>Global view and crop sizes.</summary>
    public ViewsConfig Views { get; init; } = new();

    /// <summary>The released DeepSeek-OCR 2 vision encoder.</summary>
    public static DeepEncoder2Config Default { get; } = new();

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 32,
    };

    /// <summary>Reads a fixture.json-style document; missing objects and fields keep the released defaults.</summary>
    public static DeepEncoder2Config FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new GraphException("config must be a JSON object");
        T Part<T>(string name, T fallback)
        {
            if (!root.TryGetProperty(name, out var e)) return fallback;
            try
            {
                return e.Deserialize<T>(Json) ?? fallback;
            }
            catch (JsonException ex)
            {
                throw ConfigErrors.From(name, ex);
            }
        }
        var d = Default;
        var cfg = new DeepEncoder2Config
        {
            Sam = Part("sam", d.Sam),
            Qwen2 = Part("qwen2", d.Qwen2),
            Queries = Part("qwen2", d.Queries),
            Projector = Part("projector", d.Projector),
            Views = Part("views", d.Views),
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
        // JSON null deserializes into reference-typed fields despite their defaults; refuse it before use.
        Require(Sam is not null && Qwen2 is not null && Queries is not null && Projector is not null && Views is not null,
            "sam, qwen2, projector and views must be objects, not null");
        Sam!.Validate();
        Qwen2!.Validate();
        Require(Projector!.Type is not null, "projector.type must be a string, not null");
        Require(Sam.Net3Channels == Qwen2.HiddenSize,
            $"sam.net3_channels {Sam.Net3Channels} must equal qwen2.hidden_size {Qwen2.HiddenSize} (SAM's tokens are Qwen2's inputs)");
        Require(Projector.Type == "linear", $"projector.type '{Projector.Type}' is not supported (only 'linear', as released)");
        Require(Projector.InputDim == Qwen2.HiddenSize,
            $"projector.input_dim {Projector.InputDim} must equal qwen2.hidden_size {Qwen2.HiddenSize}");
        Require(Projector.OutputDim > 0, "projector.output_dim must be positive");
        Require(Queries!.Query768 > 0 && Queries.Query1024 > 0 && Queries.Query768 != Queries.Query1024,
            "qwen2.query_768 and qwen2.query_1024 must be positive and differ (the table is chosen by the token count)");
        Require(Views!.MinCrops >= 2 && Views.MaxCrops >= Views.MinCrops && Views.MaxCrops <= 9,
            "views.min_crops / max_crops must satisfy 2 <= min <= max <= 9");
        Require(QueryTableFor(Views.BaseSize) == "query_1024",
            $"views.base_size {Views.BaseSize} must give {Queries.Query1024} tokens (query_1024)");
        Require(QueryTableFor(Views.ImageSize) == "query_768",
            $"views.image_size {Views.ImageSize} must give {Queries.Query768} tokens (query_768)");
        ModelBounds.Check(this);
    }

    /// <summary>Visual tokens of a square view: g2² with g2 the grid after net_3 (Sam.Grids checks the size).</summary>
    public int Tokens(int imageSize)
    {
        int g2 = Sam.Grids(imageSize).OutputGrid;
        return g2 * g2;
    }

    /// <summary>"query_768" or "query_1024" by the view's token count (as the original), or null when neither fits.</summary>
    public string? QueryTableFor(int imageSize)
    {
        int n = Tokens(imageSize);
        return n == Queries.Query768 ? "query_768" : n == Queries.Query1024 ? "query_1024" : null;
    }
}
