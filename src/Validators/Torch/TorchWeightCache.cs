using TorchSharp;
using static TorchSharp.torch;

namespace ModelForge.Validators.Torch;

/// <summary>
/// Checkpoint weights converted to torch tensors once and shared by every <see cref="TorchEvaluator"/> built over the
/// same weight source (validate: one evaluator per case graph, all graphs reading one checkpoint). A weight is loaded
/// when the first graph that needs it is evaluated and kept until the cache is disposed, so N cases hold each weight
/// once, not N times. Entries are keyed by checkpoint key, element type, device and shape; literal and derived
/// initializers (a position table resized for one grid) depend on the graph and are not cached here.
/// One cache serves one weight source: <see cref="TorchEvaluator"/> refuses a cache bound to another.
/// </summary>
public sealed class TorchWeightCache : IDisposable
{
    private readonly Dictionary<(string Key, ScalarType Type, string Device, string Shape), Tensor> _tensors = [];
    private bool _disposed;

    /// <param name="source">The weight source (e.g. a CheckpointWeights) whose tensors this cache holds.</param>
    public TorchWeightCache(Graphs.Ir.IWeightSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
    }

    /// <summary>The weight source the cached tensors were read from.</summary>
    public Graphs.Ir.IWeightSource Source { get; }

    /// <summary>Number of cached tensors.</summary>
    public int Count => _tensors.Count;

    /// <summary>Bytes held by the cached tensors (their element type's size times their element count).</summary>
    public long Bytes => _tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>The cached tensor, or the result of <paramref name="load"/> (then kept; the cache owns it).</summary>
    internal Tensor GetOrLoad(string key, ScalarType type, string device, long[] shape, Func<Tensor> load)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var k = (key, type, device, string.Join(',', shape));
        if (_tensors.TryGetValue(k, out var t)) return t;
        t = load();
        _tensors[k] = t;
        return t;
    }

    /// <summary>Frees every cached tensor and keeps the cache usable; evaluators that used them must be disposed first.</summary>
    public void Clear()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }

    /// <summary>Frees every cached tensor; evaluators that used them must not run afterwards.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
