using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>DeepSeek-OCR's DeepEncoder behind the <see cref="Architecture"/> facade.</summary>
public sealed class DeepEncoderArchitecture : Architecture
{
    public override string Name => "deepencoder";

    public override string Paradigm => "serial compression (SAM-B window attention -> 16x conv compressor -> CLIP-L -> projector)";

    public override CheckpointAdapter Adapter { get; } = new DeepEncoderAdapter();

    public override string DefaultConfigJson => JsonSerializer.Serialize(DeepEncoderConfig.Default, new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    });

    public override Graph Build(JsonElement? config, BuildRequest request)
    {
        var cfg = config is { } c ? DeepEncoderConfig.FromJson(c) : DeepEncoderConfig.Default;
        var options = new DeepEncoderBuildOptions(request.ImageSize ?? cfg.Sam.ImageSize, request.BatchSymbol, request.ComputeType);
        return DeepEncoderBuilder.Build(cfg, options);
    }

    public override BuildRequest RequestForCase(JsonElement fixtureCase) =>
        new(fixtureCase.TryGetProperty("image_size", out var s) && s.TryGetInt32(out int size) ? size
            : throw new GraphException("fixture case has no integer \"image_size\""));
}
