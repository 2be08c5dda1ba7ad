using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>DeepSeek-OCR's DeepEncoder behind the <see cref="Architecture"/> facade.</summary>
public sealed class DeepEncoderArchitecture : Architecture
{
    public override string Name => "deepencoder";

    public override string Paradigm => "serial compression (SAM-B window attention -> 16x conv compressor -> CLIP-L -> projector)";

    public override CheckpointAdapter Adapter { get; } = new DeepEncoderAdapter();

    public override string DefaultConfigJson => JsonSerializer.Serialize(DeepEncoderConfig.Default, ConfigJson);

    public override Graph Build(JsonElement? config, BuildRequest request)
    {
        var cfg = Config(config);
        var options = new DeepEncoderBuildOptions(request.ImageSize ?? cfg.Sam.ImageSize, request.BatchSymbol, request.ComputeType,
            request.Tiles);
        return DeepEncoderBuilder.Build(cfg, options);
    }

    public override IReadOnlyList<string> Modes => DeepSeekOcrMode.All.Select(m => m.Name).ToArray();

    /// <summary>
    /// Global view at the mode's base size; Gundam modes add a local-tile graph whose tile axis T is dynamic (2..9 tiles
    /// from the tiling rule, any count works). Sizes scale with the config's SAM training size (tiny fixtures: 256).
    /// </summary>
    public override IReadOnlyList<ArtifactPart> PlanMode(JsonElement? config, string mode)
    {
        var cfg = Config(config);
        DeepSeekOcrMode m;
        try
        {
            m = DeepSeekOcrMode.Parse(mode).Scaled(cfg.Sam.ImageSize, cfg.Sam.PatchSize);
        }
        catch (ArgumentException e)
        {
            throw new GraphException(e.Message);
        }
        var global = new ArtifactPart("global", new BuildRequest(m.BaseSize));
        return m.TileSize is { } tile ? [global, new ArtifactPart("local", new BuildRequest(tile, "T", Tiles: true))] : [global];
    }

    private static DeepEncoderConfig Config(JsonElement? config) =>
        config is { } c ? DeepEncoderConfig.FromJson(c) : DeepEncoderConfig.Default;

    public override BuildRequest RequestForCase(JsonElement fixtureCase) => ImageSizeRequest(fixtureCase);
}
