using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Ir;

/// <summary>
/// A dataflow graph in SSA form: inputs, initializers, nodes in topological order (the builder appends them in
/// order), named outputs and named trace points (intermediate values that match the reference's sub-modules).
/// </summary>
public sealed partial class Graph
{
    private readonly List<Value> _inputs = [];
    private readonly List<Initializer> _initializers = [];
    private readonly List<Node> _nodes = [];
    private readonly List<Value> _outputs = [];
    private readonly Dictionary<string, Value> _traces = [];
    private readonly Dictionary<string, Value> _byName = [];
    private readonly HashSet<string> _usedNames = [];
    private readonly SortedDictionary<string, Shape> _declaredWeights = new(StringComparer.Ordinal);

    public Graph(string name) => Name = name;

    public string Name { get; }

    /// <summary>Free-form facts recorded by the builder (architecture, mode, image size) for manifests and reports.</summary>
    public Dictionary<string, string> Metadata { get; } = [];

    public IReadOnlyList<Value> Inputs => _inputs;

    public IReadOnlyList<Initializer> Initializers => _initializers;

    public IReadOnlyList<Node> Nodes => _nodes;

    public IReadOnlyList<Value> Outputs => _outputs;

    public IReadOnlyDictionary<string, Value> Traces => _traces;

    public Value? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Symbols of all input dimensions (e.g. "B"); back-ends bind them from the actual inputs.</summary>
    public IEnumerable<string> Symbols => _inputs.SelectMany(i => i.Shape.Symbols).Distinct();

    internal string UniqueName(string name)
    {
        if (_usedNames.Add(name)) return name;
        for (int i = 1; ; i++)
        {
            string candidate = $"{name}_{i}";
            if (_usedNames.Add(candidate)) return candidate;
        }
    }

    public Value AddInput(string name, DataType dtype, Shape shape)
    {
        if (!_usedNames.Add(name)) throw new GraphException($"duplicate value name '{name}'");
        var v = new Value(name, new TensorType(dtype, shape), null, null);
        _inputs.Add(v);
        _byName[name] = v;
        return v;
    }

    /// <summary>Adds a constant; with <paramref name="makeUnique"/> a taken name gets a numeric suffix instead of failing.</summary>
    public Value AddInitializer(string name, DataType dtype, Shape shape, TensorData data, bool makeUnique = false)
    {
        if (!shape.IsFullyKnown) throw new GraphException($"initializer '{name}' needs a known shape, got {shape}");
        if (makeUnique) name = UniqueName(name);
        else if (!_usedNames.Add(name)) throw new GraphException($"duplicate value name '{name}'");
        var init = new Initializer(null!, data);
        var v = new Value(name, new TensorType(dtype, shape), null, init);
        init.Value = v;
        _initializers.Add(init);
        if (data is WeightData w) _declaredWeights[w.Key] = shape;
        _byName[name] = v;
        return v;
    }

    /// <summary>Appends a node after checking its inputs with the op's shape/type inference.</summary>
    public IReadOnlyList<Value> AddNode(string name, Op op, IReadOnlyList<Value> inputs, IReadOnlyList<string>? outputNames = null)
    {
        foreach (var i in inputs)
            if (!ReferenceEquals(_byName.GetValueOrDefault(i.Name), i))
                throw new GraphException($"node '{name}' reads '{i.Name}', which is not a value of this graph");
        IReadOnlyList<TensorType> types;
        try
        {
            types = op.Infer(inputs.Select(i => i.Type).ToArray());
        }
        catch (GraphException e)
        {
            throw new GraphException($"{name} ({op.Kind}): {e.Message}");
        }
        var outs = new Value[types.Count];
        string[] outNames = new string[types.Count];
        for (int k = 0; k < types.Count; k++)
            outNames[k] = UniqueName(outputNames is not null && k < outputNames.Count ? outputNames[k]
                : types.Count == 1 ? name : $"{name}:{k}");
        // Single-output nodes share their output's name, which keeps ONNX files and traces readable.
        name = types.Count == 1 ? outNames[0] : UniqueName(name);
        var node = new Node(name, op, inputs);
        for (int k = 0; k < types.Count; k++)
        {
            string outName = outNames[k];
            outs[k] = new Value(outName, types[k], node, null);
            _byName[outName] = outs[k];
        }
        node.Outputs = outs;
        _nodes.Add(node);
        return outs;
    }

    /// <summary>Marks a value as a graph output under the given name (must be unique among outputs).</summary>
    public void AddOutput(string name, Value value)
    {
        if (_outputs.Any(o => o.Name == name)) throw new GraphException($"duplicate output '{name}'");
        if (value.Name != name)
        {
            // Outputs are addressed by name in every back-end: give the value an identity node named as the output.
            value = AddNode(name, new Identity(), [value], [name])[0];
        }
        _outputs.Add(value);
    }

    public void AddTrace(string name, Value value) => _traces[name] = value;

    /// <summary>
    /// Removes nodes and initializers that no output or trace depends on (e.g. a checkpoint table read only to
    /// derive a resized constant). Inputs stay. Returns the number of removed nodes + initializers.
    /// </summary>
    public int PruneUnused()
    {
        var live = new HashSet<Value>(_outputs.Concat(_traces.Values));
        for (int i = _nodes.Count - 1; i >= 0; i--)
            if (_nodes[i].Outputs.Any(live.Contains))
                foreach (var input in _nodes[i].Inputs) live.Add(input);
        int removed = _nodes.RemoveAll(n => !n.Outputs.Any(live.Contains));
        removed += _initializers.RemoveAll(init => !live.Contains(init.Value));
        return removed;
    }

    /// <summary>
    /// Every checkpoint weight the builder declared (key -> shape), including weights read only by export-time
    /// derived constants; unaffected by <see cref="PruneUnused"/>. This is what a checkpoint must provide.
    /// </summary>
    public IReadOnlyDictionary<string, Shape> DeclaredWeights => _declaredWeights;

    /// <summary>Number of checkpoint parameters the graph reads (all declared weights).</summary>
    public long ParameterCount => _declaredWeights.Values.Sum(s => s.ElementCount.Value);

    public override string ToString() =>
        $"graph {Name}: {_inputs.Count} inputs, {_nodes.Count} nodes, {_initializers.Count} initializers, {_outputs.Count} outputs";
}
