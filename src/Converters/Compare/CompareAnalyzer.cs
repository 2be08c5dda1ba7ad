using ModelForge.Graphs.Analysis;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Compare;

/// <summary>Analytic figures of one graph run.</summary>
public sealed record RunAnalysis(
    GraphRun Run,
    int Nodes,
    GraphCostReport Cost,
    ActivationReport Materialized,
    ActivationReport MemoryEfficient);

/// <summary>One cell of the comparison: a family entry on one page size.</summary>
public sealed record CompareRow(
    string Family,
    string Architecture,
    int Width,
    int Height,
    long Tokens,
    string Layout,
    long Parameters,
    long WeightBytes,
    double Flops,
    long ActivationPeakBytes,
    long ActivationPeakEfficientBytes,
    IReadOnlyList<RunAnalysis> Runs)
{
    /// <summary>Page label: "1024" for a square page, "1600x900" otherwise.</summary>
    public string Page => Width == Height ? Width.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Width}x{Height}";
}

/// <summary>
/// Tokens, parameters, FLOPs and activation peaks of the released configurations, from the IR alone (no checkpoint):
/// each family's graphs are built from the released config and analysed with <see cref="GraphCost"/> and
/// <see cref="ActivationModel"/> under the symbol values of the family's own plan for the page. A plan's runs are
/// sequential, so its activation peak is the largest of the runs'; FLOPs and parameters are summed (parameters once per
/// checkpoint tensor: Gundam's two graphs share one encoder).
/// </summary>
public sealed class CompareAnalyzer
{
    private readonly Dictionary<(string Arch, BuildRequest Request), Graph> _graphs = [];

    /// <summary>The graph of a run (built once per architecture and request), in fp32 as ONNX Runtime CPU runs it.</summary>
    public Graph GraphFor(Architecture arch, BuildRequest request)
    {
        if (!_graphs.TryGetValue((arch.Name, request), out var g)) _graphs[(arch.Name, request)] = g = arch.Build(null, request);
        return g;
    }

    public CompareRow Analyze(ComparedFamily family, int width, int height)
    {
        var plan = family.Plan(width, height);
        var arch = family.Arch;
        var runs = new List<RunAnalysis>();
        var weights = new Dictionary<string, long>(StringComparer.Ordinal);
        long weightBytes = 0;
        foreach (var run in plan.Runs)
        {
            var g = GraphFor(arch, run.Request);
            foreach (var (key, shape) in g.DeclaredWeights) weights[key] = shape.ElementCount.Value;
            weightBytes = Math.Max(weightBytes, g.Initializers.Sum(i => i.Value.Shape.ElementCount.Value * i.Value.DType.SizeOf()));
            runs.Add(new RunAnalysis(run, g.Nodes.Count, GraphCost.Analyze(g, run.Bindings),
                ActivationModel.Simulate(g, run.Bindings, AttentionMemory.Materialized),
                ActivationModel.Simulate(g, run.Bindings, AttentionMemory.MemoryEfficient)));
        }
        // The checkpoint's parameters minus the tensors the graphs never read (DeepEncoder: CLIP's own patch embedding).
        return new CompareRow(family.Id, family.Architecture, width, height, plan.Tokens, plan.Layout, weights.Values.Sum(), weightBytes,
            runs.Sum(r => r.Cost.Flops), runs.Max(r => r.Materialized.PeakBytes), runs.Max(r => r.MemoryEfficient.PeakBytes), runs);
    }
}
