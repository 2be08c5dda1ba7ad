using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>The builder's view of a checkpoint: builder keys mapped to file tensors by the family's adapter.</summary>
public sealed class CheckpointWeights(Checkpoint checkpoint, CheckpointAdapter adapter) : IRangeWeightSource
{
    public Checkpoint Checkpoint { get; } = checkpoint;

    public CheckpointAdapter Adapter { get; } = adapter;

    public TensorType? Describe(string key)
    {
        string name = Adapter.ToCheckpointKey(key);
        if (!Checkpoint.Contains(name)) return null;
        var info = Checkpoint.Get(name);
        return new TensorType(info.DType, Shape.Known(info.Shape));
    }

    public float[] ReadFloat32(string key) => Checkpoint.ReadAsFloat32(Adapter.ToCheckpointKey(key));

    /// <summary>Converts in chunks straight into <paramref name="destination"/> (no whole-tensor array).</summary>
    public void ReadFloat32(string key, Span<float> destination) => Checkpoint.ReadAsFloat32(Adapter.ToCheckpointKey(key), destination);

    public ReadOnlyMemory<byte> ReadRaw(string key) => Checkpoint.GetBytes(Adapter.ToCheckpointKey(key)).ToArray();

    public void ReadRaw(string key, long byteOffset, Span<byte> destination) =>
        Checkpoint.ReadBytes(Adapter.ToCheckpointKey(key), byteOffset, destination);
}

/// <summary>Thrown when a checkpoint does not fit a graph; the message lists every problem at once, on one line.</summary>
public sealed class CheckpointMismatchException(string message) : Exception(message);

/// <summary>
/// Checks a checkpoint against the weights a graph declares, before any data is read: missing tensors,
/// wrongly shaped ones, unsupported dtypes, and unexpected tensors of the family (all reported together).
/// </summary>
public static class WeightBinder
{
    private const int ListedPerKind = 8;

    public static void Verify(Graph graph, Checkpoint checkpoint, CheckpointAdapter adapter)
    {
        var missing = new List<string>();
        var shapes = new List<string>();
        var dtypes = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in graph.DeclaredWeights)
        {
            string name = adapter.ToCheckpointKey(key.Key);
            used.Add(name);
            if (!checkpoint.Contains(name))
            {
                missing.Add(name);
                continue;
            }
            var info = checkpoint.Get(name);
            var expected = key.Value.ToLongs();
            if (!info.Shape.AsSpan().SequenceEqual(expected))
                shapes.Add($"{name} is [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", expected)}]");
            if (!info.DType.IsFloat())
                dtypes.Add($"{name} is {info.DType.ShortName()}, expected a floating-point type");
        }
        foreach (var k in adapter.UnusedKeys) used.Add(adapter.ToCheckpointKey(k));
        var unexpected = checkpoint.Tensors.Select(t => t.Name).Where(n => adapter.Owns(n) && !used.Contains(n)).ToList();

        var parts = new List<string>();
        if (missing.Count > graph.DeclaredWeights.Count / 2)
        {
            // Mostly absent: probably another family's checkpoint (or a language-model-only file); say which it resembles.
            string? family = FamilySignatures.Identify(checkpoint.Tensors.Select(t => t.Name));
            if (family is not null && family != adapter.Family)
                parts.Add($"it looks like a {family} checkpoint (--arch {family})");
            else if (family is null)
                parts.Add("it holds no vision-encoder tensors of a known family");
        }
        void Add(string what, List<string> items)
        {
            if (items.Count == 0) return;
            string listed = string.Join(", ", items.Take(ListedPerKind));
            if (items.Count > ListedPerKind) listed += $", and {items.Count - ListedPerKind} more";
            parts.Add($"{items.Count} {what}: {listed}");
        }
        Add("missing", missing);
        Add("wrongly shaped", shapes);
        Add("of unsupported dtype", dtypes);
        Add("unexpected", unexpected);
        if (parts.Count == 0) return;
        throw new CheckpointMismatchException(
            $"{checkpoint.Path}: does not fit {adapter.Family} ({graph.Name}): {string.Join("; ", parts)}");
    }
}
