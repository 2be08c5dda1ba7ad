using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>Released Qwen2-VL checkpoints name the vision tower "visual.*"; builder keys drop the prefix.</summary>
public sealed class Qwen2VlAdapter() : PrefixAdapter("qwen2vl", "visual.", ["visual."]);

/// <summary>Qwen2-VL's vision tower behind the <see cref="Architecture"/> facade.</summary>
public sealed class Qwen2VlArchitecture : Architecture
{
    /// <inheritdoc/>
    public override string Name => "qwen2vl";

    /// <inheritdoc/>
    public override string Paradigm => "adaptive resolution (NaViT packing of any-size images and video frames, 2D RoPE, 2x2 PatchMerger)";

    /// <inheritdoc/>
    public override CheckpointAdapter Adapter { get; } = new Qwen2VlAdapter();

    /// <summary>"original": visual.* (Qwen's release); "model": model.visual.* (newer transformers' wrapped Qwen2VLModel).</summary>
    public override CheckpointAdapter AdapterFor(JsonElement? config) => LayoutOf(config) switch
    {
        "original" => Adapter,
        "model" => new PrefixAdapter("qwen2vl", "model.visual.", ["model.visual."]),
        var other => throw new GraphException($"checkpoint_layout '{other}' is not one of original, model"),
    };

    /// <inheritdoc/>
    public override string? DetectLayout(IReadOnlyCollection<string> checkpointKeys) =>
        checkpointKeys.Any(k => k.StartsWith("visual.blocks.", StringComparison.Ordinal)) ? "original"
        : checkpointKeys.Any(k => k.StartsWith("model.visual.blocks.", StringComparison.Ordinal)) ? "model" : null;

    /// <inheritdoc/>
    public override string DefaultConfigJson => JsonSerializer.Serialize(new { vit = Qwen2VlVisionConfig.Default }, Qwen2VlVisionConfig.Json);

    /// <summary>
    /// The packed axis is symbolic, so one graph serves every image size and image count; the request's image size and
    /// batch symbol do not apply (the token axis is always <see cref="Qwen2VlBuilder.TokenSymbol"/>).
    /// </summary>
    public override Graph Build(JsonElement? config, BuildRequest request) => Qwen2VlBuilder.Build(Config(config), request.ComputeType);

    /// <summary>Any case runs on the one symbolic graph; the case's "patches" must fold into whole tokens when given.</summary>
    public override BuildRequest RequestForCase(JsonElement fixtureCase)
    {
        if (fixtureCase.TryGetProperty("patches", out var p) && (!p.TryGetInt64(out long patches) || patches < 1))
            throw new GraphException("fixture case \"patches\" must be a positive integer");
        return new BuildRequest();
    }

    /// <summary>
    /// pixel_values + grid_thw (as the processor returns them) -> pixel_values, rotary_cos, rotary_sin, attention_bias.
    /// Inputs without grid_thw are returned unchanged (the caller already holds the derived inputs).
    /// </summary>
    public override IReadOnlyDictionary<string, HostTensor> PrepareInputs(JsonElement? config, IReadOnlyDictionary<string, HostTensor> given)
    {
        if (!given.TryGetValue("grid_thw", out var gridThw)) return given;
        if (!given.TryGetValue("pixel_values", out var pixels)) throw new GraphException("qwen2vl inputs: grid_thw given without pixel_values");
        var cfg = Config(config);
        var host = Qwen2VlPositions.Compute(Qwen2VlPositions.ParseGrid(gridThw), cfg.HeadDim, cfg.RopeTheta, cfg.SpatialMergeSize);
        if (pixels.Shape.Length != 2 || pixels.Shape[0] != host.Patches)
            throw new GraphException($"qwen2vl inputs: pixel_values {pixels.ShapeText} does not hold the {host.Patches} patch rows grid_thw describes");
        long n = host.Patches;
        var result = new Dictionary<string, HostTensor>(given, StringComparer.Ordinal)
        {
            ["rotary_cos"] = new HostTensor([n, host.HeadDim], host.Cos),
            ["rotary_sin"] = new HostTensor([n, host.HeadDim], host.Sin),
            ["attention_bias"] = new HostTensor([n, n], host.Bias),
        };
        result.Remove("grid_thw");
        return result;
    }

    private static Qwen2VlVisionConfig Config(JsonElement? config) => config is { } c ? Qwen2VlVisionConfig.FromJson(c) : Qwen2VlVisionConfig.Default;
}
