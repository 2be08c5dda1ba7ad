using System.Text.RegularExpressions;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Analysis;

/// <summary>FLOPs of one scope (a dotted name prefix such as "sam_model.blocks.*") and how many nodes it holds.</summary>
public sealed record ScopeCost(string Scope, double Flops, int Nodes);

/// <summary>Analytic compute cost of a graph with its symbols bound: total, per op kind, per scope.</summary>
public sealed record GraphCostReport(double Flops, IReadOnlyDictionary<string, double> ByKind, IReadOnlyList<ScopeCost> ByScope);

/// <summary>
/// Sums <see cref="OpCost"/> over a graph's nodes. Scopes come from the builder's node names
/// ("sam_model.blocks.3.attn.matmul"): the first <c>depth</c> dotted parts, with block indices folded to "*" so that
/// "sam_model.blocks.*" is the sum over all SAM blocks (per-block figures: <c>foldIndices: false</c>).
/// </summary>
public static partial class GraphCost
{
    public static GraphCostReport Analyze(Graph graph, IReadOnlyDictionary<string, long> bindings, int depth = 3, bool foldIndices = true)
    {
        double total = 0;
        var byKind = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var byScope = new Dictionary<string, (double Flops, int Nodes)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var node in graph.Nodes)
        {
            double f = OpCost.Of(node, bindings).Flops;
            total += f;
            byKind[node.Op.Kind] = byKind.GetValueOrDefault(node.Op.Kind) + f;
            string scope = ScopeOf(node.Name, depth, foldIndices);
            if (!byScope.TryGetValue(scope, out var acc)) order.Add(scope);
            byScope[scope] = (acc.Flops + f, acc.Nodes + 1);
        }
        return new GraphCostReport(total, byKind, order.Select(s => new ScopeCost(s, byScope[s].Flops, byScope[s].Nodes)).ToArray());
    }

    /// <summary>The scope of a node name: its first <paramref name="depth"/> dotted parts (numbers folded to "*").</summary>
    public static string ScopeOf(string nodeName, int depth, bool foldIndices = true)
    {
        // Node names end in the op's name ("...attn.matmul_3"): a name with no scope is its own top level.
        var parts = nodeName.Split('.');
        var kept = parts.Take(Math.Min(depth, Math.Max(1, parts.Length - 1))).Select(p => foldIndices && Index().IsMatch(p) ? "*" : p);
        return string.Join('.', kept);
    }

    [GeneratedRegex("^[0-9]+$")]
    private static partial Regex Index();
}
