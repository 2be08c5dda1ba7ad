using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder2;

/// <summary>
/// Released DeepSeek-OCR 2 checkpoints name the encoder "model.sam_model.*", "model.qwen2_model.model.model.layers.N.*",
/// "model.qwen2_model.model.model.norm.weight", "model.qwen2_model.query_768/1024.weight", "model.projector.layers.*" and
/// "model.view_seperator" (sic); builder keys drop "model.". The original deletes embed_tokens; rotary inv_freq is not
/// persistent, so neither appears.
/// </summary>
public sealed class DeepEncoder2Adapter() : PrefixAdapter(
    "deepencoder2",
    "model.",
    ["model.sam_model.", "model.qwen2_model.", "model.projector.", "model.view_seperator"]);

/// <summary>DeepSeek-OCR 2's DeepEncoder V2 behind the <see cref="Architecture"/> facade.</summary>
public sealed class DeepEncoder2Architecture : Architecture
{
    /// <inheritdoc/>
    public override string Name => "deepencoder2";

    /// <inheritdoc/>
    public override string Paradigm =>
        "serial compression with causal queries (SAM-B -> 16x conv compressor -> Qwen2 decoder as encoder over visual tokens " +
        "+ learnable queries -> projector)";

    /// <inheritdoc/>
    public override CheckpointAdapter Adapter { get; } = new DeepEncoder2Adapter();

    /// <inheritdoc/>
    public override string DefaultConfigJson
    {
        get
        {
            var d = DeepEncoder2Config.Default;
            var qwen2 = JsonSerializer.SerializeToNode(d.Qwen2, ConfigJson)!.AsObject();
            qwen2["query_768"] = d.Queries.Query768;
            qwen2["query_1024"] = d.Queries.Query1024;
            return JsonSerializer.Serialize(new { sam = d.Sam, qwen2, projector = d.Projector, views = d.Views }, ConfigJson);
        }
    }

    /// <summary>Default size: the global view (views.base_size); Tiles: local crops; Crops: one image with its crops.</summary>
    public override Graph Build(JsonElement? config, BuildRequest request)
    {
        var cfg = Config(config);
        int size = request.ImageSize ?? (request.Tiles ? cfg.Views.ImageSize : cfg.Views.BaseSize);
        var options = new DeepEncoder2BuildOptions(size, request.BatchSymbol, request.ComputeType, request.Tiles, request.Crops);
        return DeepEncoder2Builder.Build(cfg, options);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> Modes => DeepSeekOcr2Mode.All.Select(m => m.Name).ToArray();

    /// <summary>The global view; in crop modes also the local-crop graph (crop axis T dynamic: 2..6 crops per image).</summary>
    public override IReadOnlyList<ArtifactPart> PlanMode(JsonElement? config, string mode)
    {
        var cfg = Config(config);
        DeepSeekOcr2Mode m;
        try
        {
            m = DeepSeekOcr2Mode.Parse(mode).For(cfg.Views);
        }
        catch (ArgumentException e)
        {
            throw new GraphException(e.Message);
        }
        var global = new ArtifactPart("global", new BuildRequest(m.BaseSize));
        return m.Crop ? [global, new ArtifactPart("local", new BuildRequest(m.ImageSize, "T", Tiles: true))] : [global];
    }

    /// <summary>
    /// Golden cases: "kind" global_view (one image's global view), local_view (a batch of crops) or image_with_crops
    /// (one image, "crops" crops, the whole token sequence); without "kind" a global view of "image_size".
    /// </summary>
    public override BuildRequest RequestForCase(JsonElement fixtureCase)
    {
        var request = ImageSizeRequest(fixtureCase);
        string? kind = fixtureCase.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
        return kind switch
        {
            null or "global_view" => request,
            "local_view" => request with { BatchSymbol = "T", Tiles = true },
            "image_with_crops" => fixtureCase.TryGetProperty("crops", out var c) && c.ValueKind == JsonValueKind.Number
                    && c.TryGetInt32(out int crops) && crops > 0
                ? request with { Crops = crops }
                : throw new GraphException("fixture case of kind image_with_crops needs a positive integer \"crops\""),
            _ => throw new GraphException($"fixture case kind '{kind}' is not one of global_view, local_view, image_with_crops"),
        };
    }

    private static DeepEncoder2Config Config(JsonElement? config) =>
        config is { } c ? DeepEncoder2Config.FromJson(c) : DeepEncoder2Config.Default;
}
