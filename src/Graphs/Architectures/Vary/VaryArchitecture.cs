using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Vary;

/// <summary>Vary (dual tower: SAM-B + CLIP-L, projections concatenated on channels) behind the <see cref="Architecture"/> facade.</summary>
public sealed class VaryArchitecture : Architecture
{
    public override string Name => "vary";

    public override string Paradigm => "dual tower (SAM-B 1024 + CLIP-L 224, each projected, concatenated on channels)";

    public override CheckpointAdapter Adapter { get; } = new VaryAdapter();

    public override string DefaultConfigJson => JsonSerializer.Serialize(VaryConfig.Default, ConfigJson);

    /// <summary>Both inputs have fixed sizes (sam.image_size, clip.image_size); an --image-size other than SAM's is refused.</summary>
    public override Graph Build(JsonElement? config, BuildRequest request)
    {
        var cfg = config is { } c ? VaryConfig.FromJson(c) : VaryConfig.Default;
        if (request.ImageSize is { } size && size != cfg.Sam.ImageSize)
            throw new GraphException(
                $"vary takes fixed input sizes (sam {cfg.Sam.ImageSize}, clip {cfg.Clip.ImageSize}); image size {size} is not supported");
        return VaryBuilder.Build(cfg, request.BatchSymbol, request.ComputeType);
    }

    /// <summary>Vary's cases differ only in batch: the default request.</summary>
    public override BuildRequest RequestForCase(JsonElement fixtureCase) => new();
}
