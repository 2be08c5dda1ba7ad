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
    public override string DefaultConfigJson =>
        JsonSerializer.Serialize(new { vit = Qwen2VlVisionConfig.Default }, Qwen2VlVisionConfig.Json);

    /// <summary>
    /// The frame and token axes are symbolic, so one graph serves every image size, video length and image count; the
    /// request's image size and batch symbol do not apply (axes <see cref="Qwen2VlBuilder.FrameSymbol"/> and
    /// 4*<see cref="Qwen2VlBuilder.TokenSymbol"/>).
    /// </summary>
    public override Graph Build(JsonElement? config, BuildRequest request) => Qwen2VlBuilder.Build(Config(config), request.ComputeType);

    /// <summary>Any case runs on the one symbolic graph; the case's "patches" must fold into whole tokens when given.</summary>
    public override BuildRequest RequestForCase(JsonElement fixtureCase) => Qwen2VlCalls.RequestForCase(fixtureCase);

    /// <summary>
    /// pixel_values [N, 1176] + grid_thw [images, 3] (as the processor returns them) -> one call per image or video:
    /// pixel_values [T, H*W, 1176] and that grid's rotary_cos / rotary_sin [H*W, head_dim]. Inputs without grid_thw are
    /// one call, unchanged (the caller already holds the graph's inputs).
    /// </summary>
    public override IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> PlanCalls(JsonElement? config,
        IReadOnlyDictionary<string, HostTensor> given)
    {
        if (!given.ContainsKey("grid_thw")) return [given];
        var cfg = Config(config);
        return Qwen2VlCalls.Plan(Name, given, cfg.PatchValues, (pixels, slot) =>
        {
            var table = Qwen2VlPositions.Frame(slot.Grid.H, slot.Grid.W, cfg.HeadDim, cfg.RopeTheta, cfg.SpatialMergeSize);
            return [Qwen2VlCalls.RotaryCall(Qwen2VlCalls.Frames(pixels, slot), table.Patches, table.HeadDim, table.Cos, table.Sin)];
        });
    }

    /// <summary>
    /// Random pixels for a batch of images of different sizes, with their grid_thw (see <see cref="Qwen2VlCalls.Sample"/>).
    /// </summary>
    public override IReadOnlyDictionary<string, HostTensor>? SampleInputs(JsonElement? config, int seed, int batch)
    {
        var cfg = Config(config);
        return Qwen2VlCalls.Sample(cfg.PatchValues, cfg.SpatialMergeSize, seed, batch);
    }

    /// <summary>Every output and trace is [F, rows, ...]: flattened and concatenated in processor order.</summary>
    public override IReadOnlyDictionary<string, HostTensor> CombineCalls(JsonElement? config,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> results) =>
        Qwen2VlCalls.Concatenate(results);

    private static Qwen2VlVisionConfig Config(JsonElement? config) =>
        config is { } c ? Qwen2VlVisionConfig.FromJson(c) : Qwen2VlVisionConfig.Default;
}
