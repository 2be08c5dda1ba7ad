using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Passes;

/// <summary>Shared step of the folding passes: node over constants -> one derived initializer computed at export time.</summary>
internal static class Folding
{
    /// <summary>
    /// Replaces <paramref name="node"/> (all inputs constant, float, known shapes) by a <see cref="DerivedData"/>
    /// initializer holding its result. Graph outputs and traces keep their node (they are addressed by name).
    /// </summary>
    public static bool TryFold(Graph g, Node node, string suffix)
    {
        var output = node.Outputs[0];
        if (node.Outputs.Count != 1 || g.IsObserved(output) || !output.Shape.IsFullyKnown) return false;
        if (!node.Inputs.All(i => i.IsConstant && i.DType.IsFloat()) || !output.DType.IsFloat()) return false;
        var op = node.Op;
        var shapes = node.Inputs.Select(i => i.Shape.ToLongs()).ToArray();
        var outShape = output.Shape.ToLongs();
        var sources = node.Inputs.Select(i => i.Initializer!.Data).ToArray();
        string description = $"{op.Kind} of {string.Join(", ", node.Inputs.Select(i => i.Name))}";
        var data = new DerivedData(description, sources, src => HostKernels.Evaluate(op, src, shapes, outShape))
        {
            Transposes = op is Transpose { Perm: [1, 0] } && shapes[0].Length == 2 ? (shapes[0][0], shapes[0][1]) : null,
        };
        string baseName = node.Inputs.Count == 1 ? node.Inputs[0].Name + suffix : output.Name + suffix;
        var folded = g.AddInitializer(baseName, output.DType, output.Shape, data, makeUnique: true);
        g.ReplaceAllUses(output, folded);
        g.RemoveNode(node);
        foreach (var i in node.Inputs.Distinct()) g.RemoveInitializer(i);
        return true;
    }
}

/// <summary>
/// Linear = MatMul(x, Transpose(W)): stores W^T as the initializer (a derived table transposed once at export time),
/// so no Transpose of an initializer is left for the runtime to do at session creation (ORT folds them into an extra
/// copy of every weight: time and peak memory). Also any other Transpose of a constant.
/// </summary>
public sealed class FoldWeightTransposes : IGraphPass
{
    public string Name => "fold-weight-transposes";

    public bool Run(Graph g)
    {
        bool changed = false;
        foreach (var n in g.Nodes.Where(n => n.Op is Transpose && n.Inputs[0].IsConstant).ToArray())
            changed |= Folding.TryFold(g, n, ".T");
        return changed;
    }
}

/// <summary>
/// Evaluates export-time tables: any layout or elementwise node whose inputs are all constants (a reshaped class
/// embedding, a sliced position table, a scaled constant) becomes one initializer. Nodes whose result is much larger than
/// their inputs (a broadcast) are left to the runtime, as ORT's constant folding does for Expand-like growth.
/// </summary>
public sealed class FoldConstants : IGraphPass
{
    public string Name => "fold-constants";

    public bool Run(Graph g)
    {
        bool changed = false;
        foreach (var n in g.Nodes.ToArray())
        {
            if (!HostKernels.CanEvaluate(n.Op) || !n.Inputs.All(i => i.IsConstant) || !n.Outputs[0].Shape.IsFullyKnown) continue;
            long inputs = n.Inputs.Sum(i => i.Shape.ElementCount.Value), output = n.Outputs[0].Shape.ElementCount.Value;
            if (output > inputs) continue;
            changed |= Folding.TryFold(g, n, ".folded");
        }
        return changed;
    }
}

/// <summary>Removes nodes and initializers no output or trace depends on (<see cref="Graph.PruneUnused"/>).</summary>
public sealed class EliminateDeadCode : IGraphPass
{
    public string Name => "eliminate-dead-code";

    public bool Run(Graph g) => g.PruneUnused() > 0;
}

/// <summary>
/// Drops nodes that return their input unchanged: Identity, Reshape/Expand to the input's shape, Transpose with the
/// identity permutation, Cast to the input's type, Slice of a whole axis, Pad by zeros; and makes a Reshape of a
/// Reshape read the first one's input. Graph outputs and traces keep their node (validate asks for them by name).
/// </summary>
public sealed class EliminateIdentities : IGraphPass
{
    public string Name => "eliminate-identities";

    public bool Run(Graph g)
    {
        bool changed = false;
        foreach (var n in g.Nodes.ToArray())
        {
            var x = n.Inputs.Count > 0 ? n.Inputs[0] : null;
            var y = n.Outputs[0];
            if (x is null) continue;
            if (n.Op is Reshape && x.Producer is { Op: Reshape } inner)
            {
                g.SetInput(n, 0, inner.Inputs[0]);
                changed = true;
                x = n.Inputs[0];
            }
            if (g.IsObserved(y) || !IsNoOp(n.Op, x, y)) continue;
            g.ReplaceAllUses(y, x);
            g.RemoveNode(n);
            changed = true;
        }
        return changed;
    }

    private static bool IsNoOp(Op op, Value x, Value y) => x.Type == y.Type && op switch
    {
        Identity or Reshape or Expand or Cast => true,
        Transpose t => t.Perm.Select((p, i) => p == i).All(b => b),
        Slice s => s.Start == 0,
        Pad p => p.Pads.All(v => v == 0),
        _ => false,
    };
}

/// <summary>
/// Common-subexpression merge: nodes with the same op (kind and attributes) reading the same values compute the same
/// thing; later ones are replaced by the first. Equal constants (same checkpoint tensor, or equal small literals) are
/// merged first, so that their readers become equal too.
/// </summary>
public sealed class MergeCommonSubexpressions : IGraphPass
{
    public string Name => "merge-common-subexpressions";

    public bool Run(Graph g)
    {
        bool changed = MergeConstants(g);
        var seen = new Dictionary<string, Node>(StringComparer.Ordinal);
        var ids = new Dictionary<Value, int>();
        int Id(Value v) => ids.TryGetValue(v, out int id) ? id : ids[v] = ids.Count;
        foreach (var n in g.Nodes.ToArray())
        {
            if (n.Outputs.Count != 1) continue;
            string key = $"{n.Op}|{string.Join(",", n.Inputs.Select(Id))}";
            if (!seen.TryGetValue(key, out var first)) { seen[key] = n; continue; }
            if (g.IsObserved(n.Outputs[0])) continue;
            g.ReplaceAllUses(n.Outputs[0], first.Outputs[0]);
            g.RemoveNode(n);
            changed = true;
        }
        return changed;
    }

    private static bool MergeConstants(Graph g)
    {
        bool changed = false;
        var seen = new Dictionary<string, Value>(StringComparer.Ordinal);
        foreach (var init in g.Initializers.ToArray())
        {
            string? key = init.Data switch
            {
                WeightData w => "w:" + w.Key,
                LiteralData { Floats: { Length: <= 64 } f } => "f:" + string.Join(",", f.Select(v => BitConverter.SingleToInt32Bits(v))),
                LiteralData { Longs: { Length: <= 64 } l } => "l:" + string.Join(",", l),
                _ => null,
            };
            if (key is null) continue;
            key += $"|{init.Value.Type}";
            if (!seen.TryGetValue(key, out var first)) { seen[key] = init.Value; continue; }
            if (g.IsObserved(init.Value)) continue;
            g.ReplaceAllUses(init.Value, first);
            g.RemoveInitializer(init.Value);
            changed = true;
        }
        return changed;
    }
}
