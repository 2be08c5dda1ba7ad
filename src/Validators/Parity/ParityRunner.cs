using System.Diagnostics;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Torch;

namespace ModelForge.Validators.Parity;

/// <summary>
/// Runs a graph on the requested paths (TorchSharp reference, exported ONNX on ONNX Runtime) and compares each
/// to the golden outputs and to each other. Golden trace tensors are compared in graph order to name the first
/// block where a path leaves tolerance.
/// </summary>
public sealed class ParityRunner(ValidationOptions options, Action<string>? progress = null)
{
    public ValidationOptions Options { get; } = options;

    public ValidationReport RunFixture(GoldenFixture fixture)
    {
        var cases = new List<CaseReport>();
        foreach (var c in fixture.Cases)
        {
            // Golden inputs are the original processor's (Qwen2-VL: pixel_values + grid_thw); the family plans the graph
            // calls (one per image or video there) and later joins their results into what the original returned.
            var calls = fixture.Architecture.PlanCalls(fixture.Config, c.Inputs);
            if (Options.ExportedModel is not null && calls.Select(Misfit).FirstOrDefault(w => w is not null) is { } why)
            {
                cases.Add(new CaseReport(c.Name, [], new Dictionary<string, string>(), new Dictionary<string, double>(), why));
                continue;
            }
            progress?.Invoke($"{fixture.Name} {c.Name}");
            var graph = fixture.Architecture.Build(fixture.Config, fixture.Architecture.RequestForCase(c.Json));
            cases.Add(RunCase(graph, fixture.Checkpoint, fixture.Architecture, fixture.Config, c.Name, calls, c.Outputs, c.Traces));
        }
        return Report(fixture.Name, fixture.Architecture.Name, cases);
    }

    /// <summary>
    /// Reference-vs-exported parity without goldens (random or given inputs; processor-style inputs such as Qwen's
    /// pixel_values + grid_thw are planned into graph calls by the family, with <paramref name="config"/>).
    /// </summary>
    public ValidationReport RunInputs(string subject, Architecture arch, Graph graph, Checkpoint checkpoint, IReadOnlyDictionary<string, HostTensor> inputs,
        System.Text.Json.JsonElement? config = null) =>
        Report(subject, arch.Name, [RunCase(graph, checkpoint, arch, config, "inputs", arch.PlanCalls(config, inputs), new Dictionary<string, HostTensor>(), new Dictionary<string, HostTensor>())]);

    private ValidationReport Report(string subject, string arch, List<CaseReport> cases)
    {
        var tolerances = new Dictionary<string, string>
        {
            ["exported vs golden"] = Options.ToleranceFor(Options.ExportedPrecision).ToString(),
            ["reference vs golden"] = Options.ToleranceFor(Options.Precision).ToString(),
            ["exported vs reference"] = Options.ToleranceFor(Options.Precision).ToString(),
        };
        return new ValidationReport(subject, arch, Options.Device, Options.Precision.ShortName(), tolerances, cases);
    }

    private CaseReport RunCase(Graph graph, Checkpoint checkpoint, Architecture arch, System.Text.Json.JsonElement? config, string name,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, IReadOnlyDictionary<string, HostTensor> golden, IReadOnlyDictionary<string, HostTensor> goldenTraces)
    {
        WeightBinder.Verify(graph, checkpoint, arch.Adapter);
        graph.PruneUnused();
        var weights = new CheckpointWeights(checkpoint, arch.Adapter);
        var order = graph.Nodes.SelectMany(n => n.Outputs).Select((v, i) => (v, i)).ToDictionary(x => x.v, x => x.i);
        var traces = Options.Traces
            ? goldenTraces.Keys.Where(graph.Traces.ContainsKey).OrderBy(t => order.GetValueOrDefault(graph.Traces[t], -1)).ToArray()
            : [];
        var traceValues = Options.ExportedPrecision == DataType.Float32 ? traces.Select(t => graph.Traces[t].Name).Distinct().ToArray() : [];
        var seconds = new Dictionary<string, double>();
        var results = new Dictionary<ValidationPath, IReadOnlyDictionary<string, HostTensor>>();

        if (Options.Paths.Contains(ValidationPath.Exported))
            results[ValidationPath.Exported] = Timed("exported", seconds, () => arch.CombineCalls(config, RunExported(graph, weights, calls, traceValues)));
        if (Options.Paths.Contains(ValidationPath.Reference))
            results[ValidationPath.Reference] = Timed("reference", seconds, () => arch.CombineCalls(config, RunReference(graph, weights, calls, traceValues)));

        var reports = new List<OutputReport>();
        var firstDivergence = new Dictionary<string, string>();
        void Compare(string comparison, IReadOnlyDictionary<string, HostTensor> actual, IReadOnlyDictionary<string, HostTensor> expected,
            IReadOnlyDictionary<string, HostTensor> expectedTraces, Tolerance tol)
        {
            foreach (var (output, want) in expected.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                var result = actual.TryGetValue(output, out var got)
                    ? TensorComparator.Compare(output, got, want, tol)
                    : ComparisonResult.Fail(output, "the graph has no such output");
                reports.Add(new OutputReport(name, output, comparison, result));
            }
            foreach (var trace in traces)
            {
                if (!expectedTraces.TryGetValue(trace, out var want) || !actual.TryGetValue(graph.Traces[trace].Name, out var got)) continue;
                var result = TensorComparator.Compare(trace, got, want, tol);
                reports.Add(new OutputReport(name, "trace." + trace, comparison, result));
                if (!result.Passed && !firstDivergence.ContainsKey(comparison)) firstDivergence[comparison] = trace;
            }
        }

        var fp32 = Options.ToleranceFor(Options.ExportedPrecision);
        var refTol = Options.ToleranceFor(Options.Precision);
        if (Options.ExportedPrecision != DataType.Float32 && Tolerance.For(Options.ExportedPrecision).Atol > Tolerance.For(Options.Precision).Atol)
            refTol = fp32;
        if (results.TryGetValue(ValidationPath.Exported, out var exported))
            Compare("exported vs golden", exported, golden, goldenTraces, fp32);
        if (results.TryGetValue(ValidationPath.Reference, out var reference))
            Compare("reference vs golden", reference, golden, goldenTraces, refTol);
        if (exported is not null && reference is not null)
        {
            // The reference's own outputs (and trace values) are the expectation here.
            var refOutputs = graph.Outputs.Where(o => reference.ContainsKey(o.Name)).ToDictionary(o => o.Name, o => reference[o.Name]);
            var refTraces = traces.Where(t => reference.ContainsKey(graph.Traces[t].Name)).ToDictionary(t => t, t => reference[graph.Traces[t].Name]);
            Compare("exported vs reference", exported, refOutputs, refTraces, refTol);
        }
        return new CaseReport(name, reports, firstDivergence, seconds);
    }

    /// <summary>Why a case's inputs cannot feed the given artifact (it was exported for one input size), or null.</summary>
    private string? Misfit(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        using var runner = new OrtRunner(Options.ExportedModel!);
        // A case can feed more inputs than one part takes (DeepSeek-OCR 2's one-image case: global view + crops).
        if (inputs.Keys.FirstOrDefault(k => runner.Inputs.All(i => i.Name != k)) is { } extra)
            return $"skipped: the artifact takes no input {extra}";
        foreach (var (name, _, dims) in runner.Inputs)
            if (inputs.TryGetValue(name, out var t) && (t.Shape.Length != dims.Length || dims.Where((d, i) => d > 0 && d != t.Shape[i]).Any()))
                return $"skipped: input {name} {t.ShapeText} does not fit the artifact's [{string.Join(", ", dims.Select(d => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?"))}]";
        return null;
    }

    private List<IReadOnlyDictionary<string, HostTensor>> RunExported(Graph graph, IWeightSource weights, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, string[] extra)
    {
        if (Options.ExportedModel is { } given)
        {
            // The shipped artifact itself; intermediates are exposed through a temporary copy of its graph.
            string copy = OnnxModelEditor.WithExtraOutputs(given, extra.Select(n => (n, graph.Find(n)!.Type)));
            try
            {
                using var artifact = new OrtRunner(copy, Options.Ort);
                var available = artifact.Outputs.Select(o => o.Name).ToHashSet();
                var wanted = graph.Outputs.Select(o => o.Name).Concat(extra).Where(available.Contains).ToArray();
                return calls.Select(inputs => artifact.Run(inputs, wanted)).ToList();
            }
            finally
            {
                File.Delete(copy);
            }
        }
        string dir = Path.Combine(Path.GetTempPath(), $"modelforge-validate-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var export = OnnxExporter.Export(graph, weights, Path.Combine(dir, "model.onnx"), new OnnxExportOptions(Options.Opset) { ExtraOutputs = extra });
            using var runner = new OrtRunner(export.ModelPath, Options.Ort);
            var wanted = graph.Outputs.Select(o => o.Name).Concat(extra).ToArray();
            return calls.Select(inputs => runner.Run(inputs, wanted)).ToList();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private List<IReadOnlyDictionary<string, HostTensor>> RunReference(Graph graph, IWeightSource weights, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, string[] extra)
    {
        using var evaluator = new TorchEvaluator(graph, weights, new TorchEvalOptions(Options.Device, Options.Precision == DataType.Float32 ? null : Options.Precision));
        return calls.Select(inputs => evaluator.Run(inputs, extra)).ToList();
    }

    private static T Timed<T>(string what, Dictionary<string, double> seconds, Func<T> f)
    {
        var sw = Stopwatch.StartNew();
        var r = f();
        seconds[what] = sw.Elapsed.TotalSeconds;
        return r;
    }
}
