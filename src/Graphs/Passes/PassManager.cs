using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Passes;

/// <summary>
/// A graph rewrite: one small rule applied everywhere it matches. <see cref="Run"/> edits the graph in place through the
/// mutation API (src/Graphs/Ir/GraphEditing.cs) and returns whether anything changed; it must keep the outputs' values
/// (each pass has a test running the graph before and after on TorchSharp and ONNX Runtime).
/// </summary>
public interface IGraphPass
{
    /// <summary>Stable kebab-case name, as given in targets and on the command line ("fold-weight-transposes").</summary>
    string Name { get; }

    /// <summary>Applies the rule everywhere it matches; true when the graph changed.</summary>
    bool Run(Graph g);
}

/// <summary>What one pass did in one round: node and initializer counts before and after.</summary>
public sealed record PassStep(string Pass, int Round, bool Changed, int NodesBefore, int NodesAfter, int InitializersBefore,
    int InitializersAfter);

/// <summary>The steps of a pipeline run, whether it reached a fixpoint, and per-op-kind counts before and after.</summary>
public sealed record PassReport(IReadOnlyList<PassStep> Steps, bool Converged, IReadOnlyDictionary<string, int> OpsBefore,
    IReadOnlyDictionary<string, int> OpsAfter)
{
    /// <summary>One line per pass that changed something, e.g. "fuse-attention: 1210 -> 1162 nodes".</summary>
    public IEnumerable<string> Summary() => Steps.Where(s => s.Changed)
        .GroupBy(s => s.Pass)
        .Select(g => $"{g.Key}: {g.First().NodesBefore} -> {g.Last().NodesAfter} nodes, "
            + $"{g.First().InitializersBefore} -> {g.Last().InitializersAfter} initializers");
}

/// <summary>
/// Runs an ordered list of passes in rounds until a round changes nothing (a fixpoint) or <see cref="MaxRounds"/> is
/// reached, checking the graph's invariants (<see cref="Graph.Verify"/>) after every pass that changed it, as
/// onnxscript's rewriter and ORT's graph transformers do (apply rules to a fixpoint with a bound).
/// </summary>
public sealed class PassManager(IReadOnlyList<IGraphPass> passes, int maxRounds = 8)
{
    public IReadOnlyList<IGraphPass> Passes { get; } = passes;

    public int MaxRounds { get; } = maxRounds >= 1 ? maxRounds : throw new ArgumentOutOfRangeException(nameof(maxRounds));

    /// <summary>A manager for passes named as in <see cref="PassRegistry"/> (unknown names: GraphException).</summary>
    public static PassManager For(IEnumerable<string> names, int maxRounds = 8) => new(names.Select(PassRegistry.Get).ToArray(), maxRounds);

    public PassReport Run(Graph g)
    {
        var before = OpCounts(g);
        var steps = new List<PassStep>();
        bool converged = false;
        for (int round = 1; round <= MaxRounds && !converged; round++)
        {
            converged = true;
            foreach (var p in Passes)
            {
                int n0 = g.Nodes.Count, i0 = g.Initializers.Count;
                bool changed = p.Run(g);
                if (changed)
                {
                    try
                    {
                        g.Verify();
                    }
                    catch (GraphException e)
                    {
                        throw new InvalidOperationException($"pass '{p.Name}' broke graph {g.Name}: {e.Message}", e);
                    }
                    converged = false;
                }
                steps.Add(new PassStep(p.Name, round, changed, n0, g.Nodes.Count, i0, g.Initializers.Count));
            }
        }
        return new PassReport(steps, converged, before, OpCounts(g));
    }

    /// <summary>Nodes per op kind, ordinal order.</summary>
    public static IReadOnlyDictionary<string, int> OpCounts(Graph g) =>
        new SortedDictionary<string, int>(g.Nodes.GroupBy(n => n.Op.Kind).ToDictionary(x => x.Key, x => x.Count()), StringComparer.Ordinal);
}

/// <summary>The passes by name, and the default pipeline the `onnx` and `tensorrt` targets start from.</summary>
public static class PassRegistry
{
    private static readonly IGraphPass[] AllPasses =
    [
        new EliminateDeadCode(),
        new EliminateIdentities(),
        new FoldWeightTransposes(),
        new FoldConstants(),
        new MergeCommonSubexpressions(),
        new FuseAttention(),
        new ChunkAttention(),
    ];

    public static IReadOnlyList<string> Names { get; } = AllPasses.Select(p => p.Name).ToArray();

    /// <summary>
    /// The default order: fold constants first (so that weight transposes become stored layouts and CSE sees equal
    /// constants), then clean up, then fuse attention on the simplified graph, then drop what became dead.
    /// </summary>
    public static IReadOnlyList<string> Default { get; } =
        ["fold-weight-transposes", "fold-constants", "eliminate-identities", "merge-common-subexpressions", "fuse-attention",
            "eliminate-dead-code"];

    /// <summary>
    /// <see cref="Default"/> plus query-chunked attention before the final clean-up: for targets whose runtime has no
    /// memory-efficient attention kernel (the `onnx` target below opset 23), so no full [h, S, T] score tensor is needed.
    /// </summary>
    public static IReadOnlyList<string> ChunkedAttention { get; } = [.. Default.SkipLast(1), "chunk-attention", Default[^1]];

    public static IGraphPass Get(string name) =>
        AllPasses.FirstOrDefault(p => p.Name == name)
        ?? throw new GraphException($"unknown pass '{name}' (known: {string.Join(", ", Names)})");
}
