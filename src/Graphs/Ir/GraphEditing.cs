using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Ir;

/// <summary>
/// The mutation API the passes (src/Graphs/Passes) use: every edit keeps the graph in SSA form, in topological order,
/// with each node's output types equal to what its op infers from its (possibly rewired) inputs. An edit that would
/// break one of these is refused with a <see cref="GraphException"/> before anything changes. <see cref="Verify"/>
/// re-checks the whole graph (the pass manager runs it after every pass).
/// </summary>
public sealed partial class Graph
{
    /// <summary>Every (node, input index) reading <paramref name="v"/>, in node order.</summary>
    public IReadOnlyList<(Node Node, int Index)> Uses(Value v)
    {
        var uses = new List<(Node, int)>();
        foreach (var n in _nodes)
            for (int i = 0; i < n.Inputs.Count; i++)
                if (ReferenceEquals(n.Inputs[i], v)) uses.Add((n, i));
        return uses;
    }

    /// <summary>Number of node inputs reading each value (graph outputs and traces not counted).</summary>
    public Dictionary<Value, int> UseCounts()
    {
        var counts = new Dictionary<Value, int>();
        foreach (var n in _nodes)
            foreach (var i in n.Inputs)
                counts[i] = counts.GetValueOrDefault(i) + 1;
        return counts;
    }

    /// <summary>True when <paramref name="v"/> is a graph output or a trace point (its name must survive rewrites).</summary>
    public bool IsObserved(Value v) => _outputs.Contains(v) || _traces.ContainsValue(v);

    /// <summary>Position of a node in the topological order.</summary>
    public int IndexOf(Node n)
    {
        int i = _nodes.IndexOf(n);
        return i >= 0 ? i : throw new GraphException($"node '{n.Name}' is not in graph {Name}");
    }

    /// <summary>
    /// Makes every node input and trace reading <paramref name="old"/> read <paramref name="replacement"/> instead.
    /// Types must be equal; the replacement must be defined before the first reader. Graph outputs are addressed by
    /// name, so an output value cannot be replaced (refused). Returns the number of rewired inputs.
    /// </summary>
    public int ReplaceAllUses(Value old, Value replacement)
    {
        Own(old, "replace");
        Own(replacement, "replace with");
        if (old.Type != replacement.Type)
            throw new GraphException($"cannot replace '{old.Name}' {old.Type} by '{replacement.Name}' {replacement.Type}: types differ");
        if (_outputs.Contains(old)) throw new GraphException($"'{old.Name}' is a graph output; outputs keep their value");
        var uses = Uses(old);
        int defined = DefinedAt(replacement);
        if (uses.Count > 0 && defined >= IndexOf(uses[0].Node))
            throw new GraphException($"'{replacement.Name}' is defined after '{uses[0].Node.Name}', which reads '{old.Name}'");
        foreach (var (node, index) in uses) node.SetInput(index, replacement);
        foreach (var key in _traces.Where(kv => ReferenceEquals(kv.Value, old)).Select(kv => kv.Key).ToArray())
            _traces[key] = replacement;
        return uses.Count;
    }

    /// <summary>Rewires one input of a node; the op must infer the same output types from the new inputs.</summary>
    public void SetInput(Node node, int index, Value v)
    {
        Own(v, "read");
        int at = IndexOf(node);
        if (DefinedAt(v) >= at) throw new GraphException($"'{v.Name}' is not defined before node '{node.Name}'");
        var inputs = node.Inputs.ToArray();
        inputs[index] = v;
        CheckTypes(node.Name, node.Op, inputs, node.Outputs.Select(o => o.Type).ToArray());
        node.SetInput(index, v);
    }

    /// <summary>
    /// Inserts a node at position <paramref name="index"/> of the topological order (0 = first). Its inputs must be
    /// defined before that position. Returns its outputs (fresh unique names derived from <paramref name="name"/>).
    /// </summary>
    public IReadOnlyList<Value> InsertNode(int index, string name, Op op, IReadOnlyList<Value> inputs)
    {
        if (index < 0 || index > _nodes.Count) throw new GraphException($"insert position {index} outside 0..{_nodes.Count}");
        foreach (var i in inputs)
        {
            Own(i, "read");
            if (DefinedAt(i) >= index) throw new GraphException($"node '{name}' would read '{i.Name}' before it is defined");
        }
        var outs = AddNode(name, op, inputs);
        // AddNode appended it; move it to its place (the outputs are new, so nothing earlier can read them).
        var node = _nodes[^1];
        _nodes.RemoveAt(_nodes.Count - 1);
        _nodes.Insert(index, node);
        return outs;
    }

    /// <summary>
    /// Inserts a node right before <paramref name="before"/>
    /// (see <see cref="InsertNode(int, string, Op, IReadOnlyList{Value})"/>).
    /// </summary>
    public IReadOnlyList<Value> InsertNodeBefore(Node before, string name, Op op, IReadOnlyList<Value> inputs) =>
        InsertNode(IndexOf(before), name, op, inputs);

    /// <summary>Removes a node none of whose outputs is read, output or traced.</summary>
    public void RemoveNode(Node node)
    {
        IndexOf(node);
        foreach (var o in node.Outputs)
        {
            if (IsObserved(o)) throw new GraphException($"cannot remove '{node.Name}': '{o.Name}' is a graph output or trace");
            if (Uses(o) is { Count: > 0 } uses)
                throw new GraphException($"cannot remove '{node.Name}': '{uses[0].Node.Name}' reads '{o.Name}'");
        }
        _nodes.Remove(node);
        foreach (var o in node.Outputs) _byName.Remove(o.Name);
    }

    /// <summary>Replaces the data behind an initializer (same name, type and shape), e.g. with a re-laid-out derived table.</summary>
    public void ReplaceInitializerData(Value initializer, TensorData data)
    {
        Own(initializer, "re-data");
        var init = initializer.Initializer ?? throw new GraphException($"'{initializer.Name}' is not an initializer");
        init.Data = data;
        if (data is WeightData w) _declaredWeights[w.Key] = initializer.Shape;
    }

    /// <summary>Records a checkpoint weight as declared (rewriters that build a new graph carry the source's declarations over).</summary>
    internal void DeclareWeight(string key, Shape shape) => _declaredWeights[key] = shape;

    /// <summary>Removes an initializer no node reads (no-op for one still read).</summary>
    public bool RemoveInitializer(Value initializer)
    {
        if (initializer.Initializer is null || IsObserved(initializer) || Uses(initializer).Count > 0) return false;
        _byName.Remove(initializer.Name);
        return _initializers.Remove(initializer.Initializer);
    }

    /// <summary>
    /// Checks the invariants: unique value names, every node input defined earlier (inputs, initializers, earlier
    /// nodes), every node's output types equal to its op's inference, outputs and traces defined. Throws on the first break.
    /// </summary>
    public void Verify()
    {
        var defined = new HashSet<Value>(_inputs.Concat(_initializers.Select(i => i.Value)));
        var names = new HashSet<string>(defined.Select(v => v.Name));
        if (names.Count != defined.Count) throw new GraphException($"graph {Name}: duplicate input/initializer names");
        foreach (var n in _nodes)
        {
            foreach (var i in n.Inputs)
                if (!defined.Contains(i)) throw new GraphException($"graph {Name}: node '{n.Name}' reads '{i.Name}' before it is defined");
            CheckTypes(n.Name, n.Op, n.Inputs, n.Outputs.Select(o => o.Type).ToArray());
            foreach (var o in n.Outputs)
            {
                if (!ReferenceEquals(o.Producer, n))
                    throw new GraphException($"graph {Name}: '{o.Name}' has another producer than '{n.Name}'");
                if (!names.Add(o.Name) || !defined.Add(o)) throw new GraphException($"graph {Name}: value '{o.Name}' defined twice");
            }
        }
        foreach (var v in _outputs.Concat(_traces.Values))
            if (!defined.Contains(v)) throw new GraphException($"graph {Name}: output/trace '{v.Name}' is not defined");
    }

    private static void CheckTypes(string name, Op op, IReadOnlyList<Value> inputs, IReadOnlyList<TensorType> expected)
    {
        IReadOnlyList<TensorType> types;
        try
        {
            types = op.Infer(inputs.Select(i => i.Type).ToArray());
        }
        catch (GraphException e)
        {
            throw new GraphException($"{name} ({op.Kind}): {e.Message}");
        }
        if (!types.SequenceEqual(expected))
            throw new GraphException(
                $"{name} ({op.Kind}): inputs now infer [{string.Join(", ", types)}], outputs are [{string.Join(", ", expected)}]");
    }

    /// <summary>Topological position where a value becomes available: -1 for inputs and initializers.</summary>
    private int DefinedAt(Value v) => v.Producer is null ? -1 : IndexOf(v.Producer);

    private void Own(Value v, string what)
    {
        if (!ReferenceEquals(_byName.GetValueOrDefault(v.Name), v))
            throw new GraphException($"cannot {what} '{v.Name}': not a value of graph {Name}");
    }
}
