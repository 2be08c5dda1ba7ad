using System.Text.Json;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Architectures.InternVl2;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Architectures.Vary;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures;

/// <summary>
/// What a caller asks a family to build: input size, batch axis name, compute type, and whether the graph is the
/// local-tile part of a tiled mode (tile axis instead of batch, only the outputs the token assembly needs).
/// </summary>
/// <remarks>Crops &gt; 0 (DeepSeek-OCR 2): one image's global view plus that many local crops in one graph.</remarks>
public sealed record BuildRequest(int? ImageSize = null, string BatchSymbol = "B", DataType ComputeType = DataType.Float32,
    bool Tiles = false, int Crops = 0);

/// <summary>One graph of an artifact: its file stem ("model", "global", "local") and how to build it.</summary>
public sealed record ArtifactPart(string Name, BuildRequest Request);

/// <summary>One model family: its config, builder and checkpoint adapter, behind one name (--arch).</summary>
public abstract class Architecture
{
    public abstract string Name { get; }

    /// <summary>The paradigm of the family (serial compression, dual tower, tile based, adaptive resolution).</summary>
    public abstract string Paradigm { get; }

    public abstract CheckpointAdapter Adapter { get; }

    /// <summary>
    /// The adapter for a config's "checkpoint_layout" (how the checkpoint names its tensors: a family's original release,
    /// or transformers' renamed "-hf" form). Families with one layout return <see cref="Adapter"/>.
    /// </summary>
    public virtual CheckpointAdapter AdapterFor(JsonElement? config) => Adapter;

    /// <summary>The layout a checkpoint's tensor names show ("original" or a renamed form), or null when undecided.</summary>
    public virtual string? DetectLayout(IReadOnlyCollection<string> checkpointKeys) => null;

    /// <summary>The config's "checkpoint_layout" string, or "original" when absent.</summary>
    protected static string LayoutOf(JsonElement? config) =>
        config is { ValueKind: JsonValueKind.Object } c && c.TryGetProperty("checkpoint_layout", out var l)
            ? l.ValueKind == JsonValueKind.String ? l.GetString()! : throw new GraphException("config: checkpoint_layout must be a string")
            : "original";

    /// <summary>The released model's hyperparameters, as the JSON a --config file would hold.</summary>
    public abstract string DefaultConfigJson { get; }

    /// <summary>Builds the graph from an optional config document (fixture.json format; null = released defaults).</summary>
    public abstract Graph Build(JsonElement? config, BuildRequest request);

    /// <summary>Resolution modes the family knows (empty when it has none).</summary>
    public virtual IReadOnlyList<string> Modes => [];

    /// <summary>The graphs a mode needs (e.g. DeepSeek-OCR Gundam: a global view and a local-tile graph).</summary>
    public virtual IReadOnlyList<ArtifactPart> PlanMode(JsonElement? config, string mode) =>
        throw new GraphException($"{Name} has no resolution modes (--mode {mode}); use --image-size");

    /// <summary>The request that reproduces one golden fixture case (its "cases" entry).</summary>
    public abstract BuildRequest RequestForCase(JsonElement fixtureCase);

    /// <summary>How config records print as JSON (snake_case, as in fixture.json).</summary>
    protected static JsonSerializerOptions ConfigJson { get; } =
        new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>A request for the case's integer "image_size" (square inputs).</summary>
    protected static BuildRequest ImageSizeRequest(JsonElement fixtureCase) =>
        fixtureCase.ValueKind == JsonValueKind.Object && fixtureCase.TryGetProperty("image_size", out var s)
            && s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int size)
            ? new BuildRequest(size)
            : throw new GraphException("fixture case has no integer \"image_size\"");

    /// <summary>
    /// Turns the inputs a caller holds (the original processor's tensors, e.g. Qwen2-VL's packed pixel_values + grid_thw)
    /// into one or more graph calls, each a complete set of graph inputs. Families whose per-sample structure is data
    /// rather than shape split the batch here and compute the derived inputs on the host (Qwen2-VL: one call per image or
    /// video, frames on the graph's batch axis, rotary cos/sin from the grid). Default: one call with the inputs unchanged.
    /// </summary>
    public virtual IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> PlanCalls(JsonElement? config,
        IReadOnlyDictionary<string, HostTensor> given) => [given];

    /// <summary>
    /// Seeded random inputs in the form <see cref="PlanCalls"/> takes, for parity runs without goldens, or null when plain
    /// noise in every graph input is a valid input (the default). Families whose graph inputs are derived on the host
    /// (Qwen: index tensors, rotary tables) return processor-style inputs instead (random pixels + a grid).
    /// </summary>
    public virtual IReadOnlyDictionary<string, HostTensor>? SampleInputs(JsonElement? config, int seed, int batch) => null;

    /// <summary>
    /// Joins the results of the calls <see cref="PlanCalls"/> made (outputs and trace values, by value name) into what one
    /// run of the original model returns for the whole input (Qwen2-VL: rows concatenated in processor order).
    /// Default: the single call's results.
    /// </summary>
    public virtual IReadOnlyDictionary<string, HostTensor> CombineCalls(JsonElement? config,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> results) =>
        results.Count == 1 ? results[0] : throw new GraphException($"{Name}: {results.Count} graph calls but the family combines none");
}

/// <summary>The families ModelForge knows, by --arch name.</summary>
public static class ArchitectureRegistry
{
    public static IReadOnlyList<Architecture> All { get; } =
    [
        new DeepEncoderArchitecture(), new VaryArchitecture(), new InternVl2Architecture(), new Qwen2VlArchitecture(),
        new Qwen25VlArchitecture(), new DeepEncoder2Architecture(),
    ];

    public static Architecture Get(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new GraphException($"unknown architecture '{name}' (known: {string.Join(", ", All.Select(a => a.Name))})");
}
