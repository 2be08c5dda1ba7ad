using System.Text.Json;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen25Vl;

/// <summary>
/// Released Qwen2.5-VL checkpoints name the vision tower "visual.*" like Qwen2-VL (newer transformers load them as
/// model.visual.* through a key mapping; the files keep visual.*); builder keys drop the prefix.
/// </summary>
public sealed class Qwen25VlAdapter() : PrefixAdapter("qwen25vl", "visual.", ["visual."]);

/// <summary>Qwen2.5-VL's vision tower behind the <see cref="Architecture"/> facade.</summary>
public sealed class Qwen25VlArchitecture : Architecture
{
    /// <inheritdoc/>
    public override string Name => "qwen25vl";

    /// <inheritdoc/>
    public override string Paradigm =>
        "adaptive resolution with window attention (NaViT, 2D RoPE, windows of merge units, full attention in a few blocks, " +
        "RMSNorm, SwiGLU)";

    /// <inheritdoc/>
    public override CheckpointAdapter Adapter { get; } = new Qwen25VlAdapter();

    /// <inheritdoc/>
    public override string DefaultConfigJson =>
        JsonSerializer.Serialize(new { vit = Qwen25VlVisionConfig.Default }, Qwen25VlVisionConfig.Json);

    /// <summary>One symbolic graph (tokens M, windows W) serves every frame size; the request's image size does not apply.</summary>
    public override Graph Build(JsonElement? config, BuildRequest request) => Qwen25VlBuilder.Build(Config(config), request.ComputeType);

    /// <summary>Any case runs on the one symbolic graph; the case's "patches" must be a positive integer when given.</summary>
    public override BuildRequest RequestForCase(JsonElement fixtureCase) => Qwen2VlCalls.RequestForCase(fixtureCase);

    /// <summary>
    /// pixel_values [N, 1176] + grid_thw [images, 3] -> one call per FRAME (an image is one frame; a video's T frames are
    /// T calls, in order): that frame's rows [1, H*W, 1176], its rotary table in window order and the window indices
    /// (<see cref="Qwen25VlWindows"/>). Inputs without grid_thw are one call, unchanged.
    /// </summary>
    public override IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> PlanCalls(JsonElement? config,
        IReadOnlyDictionary<string, HostTensor> given)
    {
        if (!given.ContainsKey("grid_thw")) return [given];
        var cfg = Config(config);
        return Qwen2VlCalls.Plan(Name, given, cfg.PatchValues, (pixels, slot) =>
        {
            var g = slot.Grid;
            var table = Qwen2VlPositions.Frame(g.H, g.W, cfg.HeadDim, cfg.RopeTheta, cfg.SpatialMergeSize);
            var win = Qwen25VlWindows.Frame(g.H, g.W, cfg.WindowUnits, cfg.SpatialMergeSize);
            var cos = Reorder(table.Cos, win.WindowOrder, cfg.HeadDim);
            var sin = Reorder(table.Sin, win.WindowOrder, cfg.HeadDim);
            return Qwen2VlCalls.FrameSlots(slot).Select(frame =>
            {
                var call = Qwen2VlCalls.RotaryCall(Qwen2VlCalls.Frames(pixels, frame), win.Patches, cfg.HeadDim, cos, sin);
                call["window_order"] = new HostTensor([win.Patches], win.WindowOrder);
                call["window_slots"] = new HostTensor([win.WindowSlots.LongLength], win.WindowSlots);
                call["window_rows"] = new HostTensor([win.Patches], win.WindowRows);
                call["window_bias"] = new HostTensor([win.Windows, 1, 1, win.Slots], win.WindowBias);
                call["token_order"] = new HostTensor([win.TokenOrder.LongLength], win.TokenOrder);
                return call;
            });
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

    /// <summary>
    /// Every output and trace is [1, rows, ...] per frame: concatenated in call order. Window-order traces join into the
    /// original's window order too, because its windows never cross a frame and frames come in processor order.
    /// </summary>
    public override IReadOnlyDictionary<string, HostTensor> CombineCalls(JsonElement? config,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> results) =>
        Qwen2VlCalls.Concatenate(results);

    /// <summary>Rows of a [N, d] table in the given order.</summary>
    private static float[] Reorder(float[] table, long[] order, int d)
    {
        var result = new float[table.LongLength];
        for (long j = 0; j < order.LongLength; j++) Array.Copy(table, order[j] * d, result, j * d, d);
        return result;
    }

    private static Qwen25VlVisionConfig Config(JsonElement? config) =>
        config is { } c ? Qwen25VlVisionConfig.FromJson(c) : Qwen25VlVisionConfig.Default;
}
