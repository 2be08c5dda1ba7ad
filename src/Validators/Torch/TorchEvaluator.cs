using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelForge.Validators.Torch;

/// <summary>Options of <see cref="TorchEvaluator"/>.</summary>
/// <param name="Device">"cpu", "cuda" or "cuda:N". CUDA needs a CUDA libtorch already initialised (TorchRuntime).</param>
/// <param name="Precision">
/// null: compute in the graph's own element types. Float16 / BFloat16 (or Float32): every floating-point value (weights,
/// inputs, Cast targets) is computed in this type instead, with LayerNorm and Softmax upcast to f32 internally
/// (the precision plan's "fp32 islands"). Outputs are always returned as f32 data.
/// </param>
public sealed record TorchEvalOptions(string Device = "cpu", DataType? Precision = null);

/// <summary>
/// The reference path: interprets a <see cref="Graph"/> op by op with TorchSharp (no TorchScript), with ONNX
/// Runtime's semantics for every op. Initializers are loaded once, in the constructor, onto the device; each
/// <see cref="Run"/> validates the inputs against the graph before TorchSharp sees them (libtorch errors terminate
/// the process), binds the graph's symbols (e.g. B) from their shapes, and frees every intermediate tensor right
/// after its last consumer ran.
/// </summary>
public sealed class TorchEvaluator : IDisposable
{
    private readonly Graph _graph;
    private readonly Device _device;
    private readonly string _deviceName;
    private readonly DataType? _precision;
    private readonly Dictionary<Value, Tensor> _constants = [];
    // Constants owned by a shared TorchWeightCache: looked up like the others, never disposed here.
    private readonly HashSet<Value> _shared = [];
    private readonly TorchWeightCache? _cache;
    // Index of the last node reading each value (absent: read by no node). Computed once per graph.
    private readonly Dictionary<Value, int> _lastUse = [];
    private bool _disposed;

    /// <summary>Loads every initializer of <paramref name="graph"/> from <paramref name="weights"/> onto the device.</summary>
    /// <exception cref="ArgumentException">Bad device string or a non-floating precision.</exception>
    /// <exception cref="NotSupportedException">The graph holds op kinds this evaluator has no kernel for.</exception>
    /// <exception cref="InvalidOperationException">CUDA was asked for and is not available.</exception>
    /// <param name="graph">The graph to interpret.</param>
    /// <param name="weights">Where its checkpoint weights come from.</param>
    /// <param name="options">Device and precision.</param>
    /// <param name="cache">
    /// Optional: checkpoint weights are taken from (and loaded into) this cache, shared with other evaluators over the
    /// same <paramref name="weights"/>; the cache owns them, so this evaluator's Dispose frees only its own constants.
    /// </param>
    public TorchEvaluator(Graph graph, IWeightSource weights, TorchEvalOptions? options = null, TorchWeightCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(weights);
        options ??= new TorchEvalOptions();
        _graph = graph;
        _precision = options.Precision;
        if (_precision is { } p && !p.IsFloat())
            throw new ArgumentException($"precision must be a floating-point type, got {p.ShortName()}", nameof(options));
        var unsupported = Unsupported(graph);
        if (unsupported.Count > 0)
            throw new NotSupportedException(
                $"the TorchSharp evaluator cannot take {unsupported.Count} nodes: {string.Join(", ", unsupported.Take(10))}");
        _device = ParseDevice(options.Device);
        _deviceName = options.Device;
        if (cache is not null && !ReferenceEquals(cache.Source, weights))
            throw new ArgumentException("the weight cache holds another weight source's tensors", nameof(cache));
        _cache = cache;

        for (int i = 0; i < graph.Nodes.Count; i++)
            foreach (var v in graph.Nodes[i].Inputs)
                _lastUse[v] = i;

        try
        {
            LoadConstants(new TensorMaterializer(weights));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The device tensors live on, as given in the options ("cpu", "cuda", "cuda:1").</summary>
    public string Device => _deviceName;

    /// <summary>
    /// Nodes whose op kind this evaluator cannot run, as "node name (Kind)"; empty when the whole graph runs.
    /// Walks the same kind table as the kernels' exhaustive switch.
    /// </summary>
    public static IReadOnlyList<string> Unsupported(Graph g)
    {
        ArgumentNullException.ThrowIfNull(g);
        return g.Nodes.Where(n => !TorchOps.Supported.Contains(n.Op.GetType())).Select(n => $"{n.Name} ({n.Op.Kind})").ToArray();
    }

    /// <summary>
    /// Runs the graph. Binds symbols (e.g. B) from the inputs' shapes, checks every input's dtype and shape against
    /// the graph BEFORE any TorchSharp op, then interprets the nodes in order. Returns the graph outputs (by output
    /// name) plus the requested intermediate values (by IR value name: node outputs, inputs or initializers) as
    /// f32 host tensors whose <see cref="HostTensor.DType"/> names the type they were computed in.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// An input is missing, unknown, of the wrong kind (float vs integer), rank or size (naming the input, expected
    /// vs given), binds a symbol inconsistently, or an extra value name is not in the graph.
    /// </exception>
    public IReadOnlyDictionary<string, HostTensor> Run(IReadOnlyDictionary<string, HostTensor> inputs,
        IEnumerable<string>? extraValues = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputs);
        var bindings = TorchEvalValidation.BindInputs(_graph, inputs);
        var extras = (extraValues ?? []).Distinct().Select(name => _graph.Find(name)
            ?? throw new ArgumentException($"no value named '{name}' in graph {_graph.Name}", nameof(extraValues))).ToArray();
        // Every node's output shape under the bindings, computed before the first op: an unbound symbol in a Reshape or
        // Expand target fails here, in .NET, and each kernel's result is checked against it afterwards.
        var shapes = _graph.Nodes.SelectMany(n => n.Outputs).ToDictionary(v => v, v => v.Shape.Evaluate(bindings));

        var keep = new HashSet<Value>(_graph.Outputs.Concat(extras));
        var results = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var live = new Dictionary<Value, Tensor>();
        foreach (var input in _graph.Inputs)
            live[input] = TorchTensors.ToTorch(inputs[input.Name], EvalType(input.DType), _device);

        for (int i = 0; i < _graph.Nodes.Count; i++)
        {
            var node = _graph.Nodes[i];
            var args = node.Inputs.Select(Lookup).ToArray();
            // Every op has one output today (Infer returns one type); the Outputs loop keeps multi-output ops possible.
            var output = node.Outputs[0];
            var t = TorchOps.Apply(node.Op, args, shapes[output], EvalType);
            if (args.Any(a => ReferenceEquals(a, t))) t = t.alias();
            CheckResult(node, output, t, shapes[output]);
            live[output] = t;
            foreach (var v in node.Inputs.Distinct())
                if (_lastUse[v] == i && !keep.Contains(v)) Free(v);
            if (!_lastUse.ContainsKey(output) && !keep.Contains(output)) Free(output);
        }

        foreach (var v in _graph.Outputs.Concat(extras))
            results[v.Name] = TorchTensors.ToHost(Lookup(v));
        return results;

        Tensor Lookup(Value v) => v.IsConstant ? _constants[v] : live[v];

        void Free(Value v)
        {
            if (v.IsConstant || !live.Remove(v, out var t)) return;
            t.Dispose();
        }
    }

    /// <summary>Frees the device copies of the initializers.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (v, t) in _constants)
            if (!_shared.Contains(v)) t.Dispose();
        _constants.Clear();
    }

    /// <summary>The type a value of IR type <paramref name="t"/> is computed in: floats follow the precision override.</summary>
    private ScalarType EvalType(DataType t) => (_precision is { } p && t.IsFloat() ? p : t).ToScalarType();

    private void LoadConstants(TensorMaterializer materializer)
    {
        using var noGrad = torch.no_grad();
        foreach (var init in _graph.Initializers)
        {
            // Each load is scoped so that staging tensors (f32 copies before a downcast) die at once; the loaded
            // tensor is detached to live until Dispose, whatever scope the caller may have open.
            using var scope = NewDisposeScope();
            if (_cache is not null && init.Data is WeightData w)
            {
                var value = init.Value;
                _constants[value] = _cache.GetOrLoad(w.Key, EvalType(value.DType), _deviceName, value.Shape.ToLongs(),
                    () => Load(init, materializer).DetachFromDisposeScope());
                _shared.Add(value);
            }
            else _constants[init.Value] = Load(init, materializer).DetachFromDisposeScope();
        }
    }

    private Tensor Load(Initializer init, TensorMaterializer materializer)
    {
        var value = init.Value;
        long[] shape = value.Shape.ToLongs();
        var type = EvalType(value.DType);
        // Checkpoint weights computed in f32 (and others not stored in their compute type): converted chunk by chunk straight
        // into an f32 tensor's storage (no whole-tensor managed array, which would sit in the large-object heap until a
        // full GC, once per case), then to the compute type.
        long bytes = checked(value.Shape.ElementCount.Value * sizeof(float));
        if (init.Data is WeightData weight && bytes <= int.MaxValue
            && (type == ScalarType.Float32 || materializer.Weights.Describe(weight.Key)?.DType.ToScalarType() != type))
        {
            var f32 = torch.empty(shape, ScalarType.Float32);
            materializer.Weights.ReadFloat32(weight.Key, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f32.bytes));
            if (type == ScalarType.Float32 && _device.type == DeviceType.CPU) return f32;
            return f32.to(type, _device);   // f32 is staging: the caller's dispose scope frees it
        }
        // Weights stored exactly in the type we compute in: copy their bytes, no f32 staging (half the memory for bf16).
        if (init.Data is WeightData w && materializer.Weights.Describe(w.Key) is { } stored && stored.DType.ToScalarType() == type
            && stored.Shape.Equals(value.Shape))
        {
            var raw = materializer.Weights.ReadRaw(w.Key);
            if (raw.Length == checked(value.Shape.ElementCount.Value * stored.DType.SizeOf()))
            {
                var t = torch.empty(shape, type);
                // `bytes` is a span over the CPU tensor's own storage: one copy, straight from the (mapped) source.
                raw.Span.CopyTo(t.bytes);
                return _device.type == DeviceType.CPU ? t : t.to(_device);
            }
        }
        if (init.Data is LiteralData { Longs: { } longs } && !value.DType.IsFloat())
            return TorchTensors.FromInt64(longs, shape, type, _device);
        return TorchTensors.FromFloat32(materializer.ReadFloat32(init), shape, type, _device);
    }

    // Guards against a kernel that disagrees with the IR's shape inference (an evaluator bug, not a user mistake).
    private static void CheckResult(Node node, Value output, Tensor t, long[] expected)
    {
        if (!t.shape.AsSpan().SequenceEqual(expected))
            throw new InvalidOperationException($"node '{node.Name}' ({node.Op.Kind}) produced [{string.Join(", ", t.shape)}], "
                + $"the graph says [{string.Join(", ", expected)}] for '{output.Name}'");
    }

    private static Device ParseDevice(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device == "cpu") return torch.CPU;
        bool cuda = device == "cuda"
            || (device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(device.AsSpan(5), out int n) && n >= 0);
        if (!cuda) throw new ArgumentException($"device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"{device}\"", nameof(device));
        // Checked before any tensor is made, so a missing CUDA libtorch is one clear line rather than a native error.
        if (!torch.cuda.is_available())
            throw new InvalidOperationException($"device \"{device}\" asked for, but CUDA is not available to TorchSharp "
                + "(no GPU, or a CPU-only libtorch loaded; initialise a CUDA libtorch first)");
        return torch.device(device);
    }
}
