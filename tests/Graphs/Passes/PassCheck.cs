using FluentAssertions;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;

namespace ModelForge.Tests.Graphs.Passes;

/// <summary>What a pass did to a graph and how far the outputs moved on each back-end.</summary>
public sealed record PassOutcome(PassReport Report, IReadOnlyDictionary<string, int> OpsBefore, IReadOnlyDictionary<string, int> OpsAfter,
    Graph After)
{
    public int Before(string kind) => OpsBefore.GetValueOrDefault(kind);

    public int AfterCount(string kind) => OpsAfter.GetValueOrDefault(kind);
}

/// <summary>
/// Runs a graph before and after passes on BOTH back-ends (TorchSharp evaluator, ONNX Runtime on the exported file) and
/// asserts that every output agrees: after vs before on each back-end, and ONNX vs TorchSharp after the pass.
/// </summary>
public static class PassCheck
{
    public static PassOutcome Run(Func<Graph> build, IWeightSource weights, IReadOnlyDictionary<string, HostTensor> inputs,
        IEnumerable<string> passes, Tolerance? tol = null, int opset = 17, bool prune = true) =>
        Run(build, weights, inputs, PassManager.For(passes), tol, opset, prune);

    /// <summary>As above with pass instances (passes with parameters, e.g. a small chunk-attention budget).</summary>
    public static PassOutcome Run(Func<Graph> build, IWeightSource weights, IReadOnlyDictionary<string, HostTensor> inputs,
        PassManager manager, Tolerance? tol = null, int opset = 17, bool prune = true)
    {
        tol ??= new Tolerance(1e-5, 1e-5);
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        var before = build();
        var after = build();
        if (prune)
        {
            before.PruneUnused();
            after.PruneUnused();
        }
        var report = manager.Run(after);
        report.Converged.Should().BeTrue("the passes reach a fixpoint");
        after.Verify();

        using var tmp = new TempDir();
        var (torchBefore, ortBefore) = RunBoth(before, weights, inputs, tmp.File("before.onnx"), opset);
        var (torchAfter, ortAfter) = RunBoth(after, weights, inputs, tmp.File("after.onnx"), opset);
        foreach (var o in before.Outputs.Select(o => o.Name))
        {
            Same($"{o} TorchSharp after vs before", torchAfter[o], torchBefore[o], tol);
            Same($"{o} ONNX Runtime after vs before", ortAfter[o], ortBefore[o], tol);
            Same($"{o} ONNX Runtime vs TorchSharp after", ortAfter[o], torchAfter[o], tol);
        }
        return new PassOutcome(report, PassManager.OpCounts(before), PassManager.OpCounts(after), after);
    }

    private static (IReadOnlyDictionary<string, HostTensor>, IReadOnlyDictionary<string, HostTensor>) RunBoth(
        Graph g, IWeightSource weights, IReadOnlyDictionary<string, HostTensor> inputs, string path, int opset)
    {
        IReadOnlyDictionary<string, HostTensor> torch;
        using (var ev = new TorchEvaluator(g, weights)) torch = ev.Run(inputs);
        var export = OnnxExporter.Export(g, weights, path, new OnnxExportOptions(opset));
        using var ort = new OrtRunner(export.ModelPath);
        return (torch, ort.Run(inputs));
    }

    private static void Same(string what, HostTensor got, HostTensor want, Tolerance tol)
    {
        var c = TensorComparator.Compare(what, got, want, tol);
        c.Passed.Should().BeTrue($"{what}: {c.Failure}, max abs {c.MaxAbs}");
    }

    /// <summary>Seeded uniform [-scale, scale] data for a known shape.</summary>
    public static HostTensor Random(int seed, float scale, params long[] shape)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, d) => a * d)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return new HostTensor(shape, data);
    }

    /// <summary>Adds a seeded random weight to the source (uniform [-0.5, 0.5]).</summary>
    public static void AddWeight(MemoryWeights w, string key, params long[] shape) =>
        w.Add(key, Random(key.Length * 131 + shape.Length, 0.5f, shape).Data, shape);
}
