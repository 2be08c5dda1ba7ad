using System.Text.RegularExpressions;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Passes;

/// <summary>
/// Which element type each part of a graph computes in (NVIDIA ModelOpt AutoCast style): weights and activations in
/// <see cref="Precision"/>, except fp32 islands, with explicit Casts at their borders so the precision is written into
/// the graph (TensorRT 11 builds strongly typed networks only; 10.x obeys the types too). Islands by default: LayerNorm
/// and RMSNorm statistics, softmax and the attention scores (the fused attention, which is also where SAM's rel-pos bias
/// meets the scores; unfused, the Mul/Add chain feeding a Softmax), plus nodes whose scope matches a
/// <see cref="KeepFp32"/> pattern. Position tables resized at export time are computed in f32 by construction
/// (Numerics/Resample) and stored in the plan's type.
/// </summary>
public sealed record PrecisionPlan
{
    /// <summary>The plan's storage and compute type (f32, f16, bf16).</summary>
    public DataType Precision { get; init; } = DataType.Float32;

    /// <summary>Op kinds computed in f32 (the islands), by IR kind name.</summary>
    public IReadOnlyList<string> Fp32Ops { get; init; } = DefaultFp32Ops;

    /// <summary>Scope-name patterns ('*' matches any run of characters, e.g. "sam_model.blocks.0.*") kept in f32.</summary>
    public IReadOnlyList<string> KeepFp32 { get; init; } = [];

    /// <summary>Element type of the graph's float inputs and outputs; null = f32 (what callers hold).</summary>
    public DataType? IoDType { get; init; }

    /// <summary>LayerNorm/RMSNorm statistics, softmax, fused attention (scores, bias add, softmax).</summary>
    public static IReadOnlyList<string> DefaultFp32Ops { get; } = ["LayerNorm", "RmsNorm", "Softmax", "ScaledDotProductAttention"];

    /// <summary>The f32 plan: nothing to rewrite.</summary>
    public static PrecisionPlan Fp32 { get; } = new();

    public DataType Io => IoDType ?? DataType.Float32;

    /// <summary>Manifest form: precision, islands, patterns, io dtype.</summary>
    public IReadOnlyDictionary<string, object> Describe() => new Dictionary<string, object>
    {
        ["precision"] = Precision.ShortName(),
        ["fp32_ops"] = Fp32Ops.ToArray(),
        ["keep_fp32"] = KeepFp32.ToArray(),
        ["io_dtype"] = Io.ShortName(),
    };
}

/// <summary>
/// Applies a <see cref="PrecisionPlan"/>: returns a NEW graph (value types are immutable in the IR) with the same value
/// names, float initializers stored in the plan's type (f32 when only islands read them), Casts inserted where a value
/// enters a node computing in another type, and inputs/outputs in the plan's io type.
/// </summary>
public static class PrecisionRewriter
{
    public static Graph Apply(Graph g, PrecisionPlan plan)
    {
        if (!plan.Precision.IsFloat() || !plan.Io.IsFloat())
            throw new GraphException("precision and io dtype must be floating-point types");
        if (plan.Precision == DataType.Float32 && plan.Io == DataType.Float32) return g;
        var patterns = plan.KeepFp32
            .Select(p => new Regex("^" + Regex.Escape(p).Replace("\\*", ".*") + "$", RegexOptions.CultureInvariant)).ToArray();
        var islands = Islands(g, plan, patterns);
        DataType ComputeType(Node n) => islands.Contains(n) ? DataType.Float32 : plan.Precision;

        var result = new Graph(g.Name);
        foreach (var (k, v) in g.Metadata) result.Metadata[k] = v;
        result.Metadata["precision"] = plan.Precision.ShortName();
        foreach (var (key, shape) in g.DeclaredWeights) result.DeclareWeight(key, shape);
        var map = new Dictionary<Value, Value>();
        foreach (var i in g.Inputs)
            map[i] = result.AddInput(i.Name, i.DType.IsFloat() ? plan.Io : i.DType, i.Shape);
        var readers = g.Nodes.SelectMany(n => n.Inputs.Select(i => (i, n))).ToLookup(x => x.i, x => x.n);
        foreach (var init in g.Initializers)
        {
            var v = init.Value;
            var dtype = !v.DType.IsFloat() ? v.DType
                : readers[v].Any() && readers[v].All(islands.Contains) ? DataType.Float32 : plan.Precision;
            map[v] = result.AddInitializer(v.Name, dtype, v.Shape, init.Data);
        }

        var casts = new Dictionary<(Value, DataType), Value>();
        Value As(Value v, DataType t)
        {
            if (!v.DType.IsFloat() || v.DType == t) return v;
            if (!casts.TryGetValue((v, t), out var c))
                casts[(v, t)] = c = result.AddNode($"{v.Name}.to_{t.ShortName()}", new Cast(t), [v])[0];
            return c;
        }
        var outputs = g.Outputs.ToHashSet();
        foreach (var n in g.Nodes)
        {
            var ct = ComputeType(n);
            // A Cast of the source graph keeps its meaning (convert to its target); every other float node computes in ct.
            var inputs = n.Op is Cast ? n.Inputs.Select(i => map[i]).ToArray() : n.Inputs.Select(i => As(map[i], ct)).ToArray();
            var names = n.Outputs.Select(o => outputs.Contains(o) ? o.Name + ".compute" : o.Name).ToArray();
            // A LayerNorm outside the islands computes its statistics in the plan's type too (what the plan says).
            var op = n.Op is LayerNorm ln && ct != DataType.Float32 ? ln with { Statistics = ct } : n.Op;
            var outs = result.AddNode(n.Name, op, inputs, names);
            for (int k = 0; k < outs.Count; k++)
            {
                var o = n.Outputs[k];
                map[o] = outputs.Contains(o) && outs[k].DType.IsFloat()
                    ? result.AddNode(o.Name, outs[k].DType == plan.Io ? new Identity() : new Cast(plan.Io), [outs[k]], [o.Name])[0]
                    : outs[k];
            }
        }
        foreach (var o in g.Outputs) result.AddOutput(o.Name, map[o]);
        foreach (var (name, v) in g.Traces) result.AddTrace(name, map[v]);
        return result;
    }

    /// <summary>Nodes computed in f32: islands by kind, the Mul/Add chain feeding a Softmax, scopes matching a pattern.</summary>
    private static HashSet<Node> Islands(Graph g, PrecisionPlan plan, Regex[] patterns)
    {
        var kinds = plan.Fp32Ops.ToHashSet(StringComparer.Ordinal);
        var islands = g.Nodes.Where(n => kinds.Contains(n.Op.Kind) || patterns.Any(p => p.IsMatch(n.Name))).ToHashSet();
        if (!kinds.Contains("Softmax")) return islands;
        var uses = g.UseCounts();
        foreach (var softmax in g.Nodes.Where(n => n.Op is Softmax))
        {
            // scores * scale (+ bias) -> softmax: overflow happens in the scores, so they are part of the island.
            var v = softmax.Inputs[0];
            while (v.Producer is { Op: Add or Mul } p && uses.GetValueOrDefault(v) == 1)
            {
                islands.Add(p);
                v = p.Inputs.FirstOrDefault(i => i.Producer is { Op: Add or Mul or MatMul }) ?? p.Inputs[0];
            }
            if (v.Producer is { Op: MatMul } qk && uses.GetValueOrDefault(v) == 1) islands.Add(qk);
        }
        return islands;
    }
}
