using System.Runtime.InteropServices;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Compare;

/// <summary>
/// Deterministic synthetic weights of the shapes a graph declares (its released checkpoint's shapes), for timing and
/// memory measurements without a checkpoint: f32, seeded per key (FNV-1a of the key and the seed), so the same key always
/// gets the same numbers. Scales follow PyTorch's default init so activations stay finite and normal (denormals would
/// slow a CPU down and distort timings): matrices and convolutions uniform ±1/sqrt(fan_in), norm scales 1 ± 0.02,
/// biases and embeddings ±0.02.
/// </summary>
public sealed class SyntheticWeights(IReadOnlyDictionary<string, Shape> shapes, ulong seed = 0) : IWeightSource
{
    /// <summary>Synthetic weights for every weight the graph declares.</summary>
    public static SyntheticWeights For(Graph graph, ulong seed = 0) => new(graph.DeclaredWeights, seed);

    public TensorType? Describe(string key) => shapes.TryGetValue(key, out var s) ? new TensorType(DataType.Float32, s) : null;

    public float[] ReadFloat32(string key)
    {
        var shape = shapes.TryGetValue(key, out var s) ? s.ToLongs()
            : throw new KeyNotFoundException($"synthetic weights: no tensor '{key}'");
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        var data = new float[count];
        ulong state = Hash(key) ^ (seed * 0x9E3779B97F4A7C15UL) | 1;
        bool norm = shape.Length == 1 && key.EndsWith("weight", StringComparison.Ordinal);
        double scale = shape.Length >= 2 && !key.Contains("pos", StringComparison.Ordinal)
            && !key.Contains("embed", StringComparison.Ordinal)
            ? 1 / Math.Sqrt(shape.Skip(1).Aggregate(1L, (a, d) => a * d)) : 0.02;
        for (long i = 0; i < count; i++)
        {
            // xorshift64*: fast and reproducible; the top 24 bits give a uniform float in [-1, 1).
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            float u = (float)((state * 0x2545F4914F6CDD1DUL) >> 40) / (1 << 23) - 1;
            data[i] = norm ? 1 + 0.02f * u : (float)(scale * u);
        }
        return data;
    }

    public ReadOnlyMemory<byte> ReadRaw(string key) => MemoryMarshal.AsBytes(ReadFloat32(key).AsSpan()).ToArray();

    private static ulong Hash(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) h = (h ^ c) * 1099511628211UL;
        return h;
    }
}
