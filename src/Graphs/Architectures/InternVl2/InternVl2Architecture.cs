using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>InternVL 2.0 (tile based: each 448x448 tile is one row of the tile axis) behind the <see cref="Architecture"/>
/// facade.</summary>
public sealed class InternVl2Architecture : Architecture
{
    public override string Name => "internvl2";

    public override string Paradigm => "tile based (InternViT-300M per 448 tile -> pixel shuffle 2x2 -> MLP projector)";

    public override CheckpointAdapter Adapter { get; } = new InternVl2Adapter();

    public override string DefaultConfigJson => JsonSerializer.Serialize(InternVl2Config.Default, ConfigJson);

    /// <summary>Tiles of request.ImageSize (default: the trained 448); request.BatchSymbol names the tile axis.</summary>
    public override Graph Build(JsonElement? config, BuildRequest request)
    {
        var cfg = config is { } c ? InternVl2Config.FromJson(c) : InternVl2Config.Default;
        return InternVl2Builder.Build(cfg, request.ImageSize ?? cfg.TileSize ?? cfg.Vit.ImageSize, request.BatchSymbol,
            request.ComputeType);
    }

    /// <inheritdoc/>
    public override CheckpointAdapter AdapterFor(JsonElement? config) => InternVl2Layouts.Adapter(LayoutOf(config));

    /// <inheritdoc/>
    public override string? DetectLayout(IReadOnlyCollection<string> checkpointKeys) => InternVl2Layouts.Detect(checkpointKeys);

    public override BuildRequest RequestForCase(JsonElement fixtureCase) => ImageSizeRequest(fixtureCase);
}
