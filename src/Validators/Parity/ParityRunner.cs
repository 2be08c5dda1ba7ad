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
/// block where a path leaves tolerance. With <see cref="ValidationOptions.Arbiter"/>, the same graph and weights are
/// also evaluated in float64 once per case, and golden, exported and reference are each measured against it.
/// Progress messages are "phase: detail" (build, export, exported, reference, fp64).
/// </summary>
public sealed class ParityRunner(ValidationOptions options, Action<string>? progress = null)
{
    private IReadOnlyDictionary<string, ToleranceOverride> _fixtureTolerances = new Dictionary<string, ToleranceOverride>();

    public ValidationOptions Options { get; } = options;

    /// <summary>With <see cref="ValidationOptions.CaptureTensors"/>: "CASE.INPUT" (bare input names for RunInputs).</summary>
    public Dictionary<string, HostTensor> CapturedInputs { get; } = new(StringComparer.Ordinal);

    /// <summary>With <see cref="ValidationOptions.CaptureTensors"/>: "CASE.PATH.OUTPUT" (PATH: exported, reference, fp64).</summary>
    public Dictionary<string, HostTensor> CapturedOutputs { get; } = new(StringComparer.Ordinal);

    public ValidationReport RunFixture(GoldenFixture fixture)
    {
        _fixtureTolerances = ToleranceOverride.FromFixture(fixture.Config, Path.Combine(fixture.Directory, "fixture.json"));
        var cases = new List<CaseReport>();
        // One set of resources for the whole run: each weight converted once, one session per part (see ParityResources).
        using var resources = new ParityResources(Options, fixture.Checkpoint, fixture.Architecture.AdapterFor(fixture.Config), progress);
        foreach (var c in fixture.Cases)
        {
            // Golden inputs are the original processor's (Qwen2-VL: pixel_values + grid_thw); the family plans the graph
            // calls (one per image or video there) and later joins their results into what the original returned.
            var calls = fixture.Architecture.PlanCalls(fixture.Config, c.Inputs);
            var request = fixture.Architecture.RequestForCase(c.Json);
            var graph = resources.Graph(request, () =>
            {
                progress?.Invoke($"build: {fixture.Name} {c.Name} graph");
                return fixture.Architecture.Build(fixture.Config, request);
            });
            string? model = null;
            if (Options.ExportedParts is { } parts && Options.Paths.Contains(ValidationPath.Exported))
            {
                var misfits = new List<string>();
                var extra = ArtifactExtras(graph.Graph, c.Traces);
                foreach (var part in parts)
                {
                    string label = parts.Count == 1 ? "the artifact" : Path.GetFileName(part);
                    var runner = resources.Artifact(part, extra);
                    if (calls.Select(call => Misfit(runner, call, label)).FirstOrDefault(w => w is not null) is { } why) misfits.Add(why);
                    else
                    {
                        model = part;
                        break;
                    }
                }
                if (model is null)
                {
                    cases.Add(new CaseReport(c.Name, [], new Dictionary<string, string>(), new Dictionary<string, double>(),
                        "skipped: " + string.Join("; ", misfits)));
                    continue;
                }
            }
            cases.Add(RunCase(resources, graph, fixture.Architecture, fixture.Config, c.Name, c.Inputs, calls, c.Outputs, c.Traces, model,
                prefixInputs: true));
            ParityResources.ReleaseFreedMemory();
        }
        return Report(fixture.Name, fixture.Architecture.Name, cases);
    }

    /// <summary>
    /// Reference-vs-exported parity without goldens (random or given inputs; processor-style inputs such as Qwen's
    /// pixel_values + grid_thw are planned into graph calls by the family, with <paramref name="config"/>).
    /// </summary>
    public ValidationReport RunInputs(string subject, Architecture arch, Graph graph, Checkpoint checkpoint, IReadOnlyDictionary<string, HostTensor> inputs,
        System.Text.Json.JsonElement? config = null) =>
        RunInputCases(subject, arch, graph, checkpoint, [("inputs", inputs)], config);

    /// <summary>
    /// <see cref="RunInputs"/> over several named input sets (cases) on one graph: its weights, export and session are
    /// made once and serve every case. Saved inputs are keyed CASE.INPUT when there is more than one case.
    /// </summary>
    public ValidationReport RunInputCases(string subject, Architecture arch, Graph graph, Checkpoint checkpoint,
        IReadOnlyList<(string Name, IReadOnlyDictionary<string, HostTensor> Inputs)> inputCases, System.Text.Json.JsonElement? config = null)
    {
        using var resources = new ParityResources(Options, checkpoint, arch.AdapterFor(config), progress);
        var caseGraph = resources.Graph(graph, () => graph);
        var reports = new List<CaseReport>();
        foreach (var (name, inputs) in inputCases)
        {
            reports.Add(RunCase(resources, caseGraph, arch, config, name, inputs, arch.PlanCalls(config, inputs),
                new Dictionary<string, HostTensor>(), new Dictionary<string, HostTensor>(), Options.ExportedParts?[0],
                prefixInputs: inputCases.Count > 1));
            ParityResources.ReleaseFreedMemory();
        }
        return Report(subject, arch.Name, reports);
    }

    private ValidationReport Report(string subject, string arch, List<CaseReport> cases)
    {
        var tolerances = new Dictionary<string, string>
        {
            ["exported vs golden"] = Options.ToleranceFor(Options.ExportedPrecision).ToString(),
            ["reference vs golden"] = Options.ToleranceFor(Options.Precision).ToString(),
            ["exported vs reference"] = Options.ToleranceFor(Options.Precision).ToString(),
        };
        foreach (var (output, o) in _fixtureTolerances) tolerances[$"fixture: {output}"] = o.Apply(Options.ToleranceFor(DataType.Float32)).ToString();
        foreach (var (output, o) in Options.OutputTolerances) tolerances[$"--atol/--rtol: {output}"] = o.Apply(Options.ToleranceFor(DataType.Float32)).ToString();
        if (Options.ErrorStat.Kind != ErrorStatKind.Elementwise) tolerances["check error stat"] = Options.ErrorStat.ToString();
        if (Options.Arbiter) tolerances["X vs fp64"] = Options.ToleranceFor(DataType.Float32).ToString() + " (arbiter: informational)";
        return new ValidationReport(subject, arch, Options.Device, Options.Precision.ShortName(), tolerances, cases);
    }

    /// <summary>
    /// One case: <paramref name="inputs"/> as given (what --save-inputs keeps), <paramref name="calls"/> the graph calls the
    /// family planned from them; each path's results are joined back by the family (Architecture.CombineCalls).
    /// </summary>
    private CaseReport RunCase(ParityResources resources, ParityResources.CaseGraph caseGraph, Architecture arch,
        System.Text.Json.JsonElement? config, string name,
        IReadOnlyDictionary<string, HostTensor> inputs, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls,
        IReadOnlyDictionary<string, HostTensor> golden, IReadOnlyDictionary<string, HostTensor> goldenTraces, string? exportedModel, bool prefixInputs)
    {
        var graph = caseGraph.Graph;   // verified against the checkpoint and pruned (ParityResources.Graph)
        var order = graph.Nodes.SelectMany(n => n.Outputs).Select((v, i) => (v, i)).ToDictionary(x => x.v, x => x.i);
        var traces = Options.Traces
            ? goldenTraces.Keys.Where(graph.Traces.ContainsKey).OrderBy(t => order.GetValueOrDefault(graph.Traces[t], -1)).ToArray()
            : [];
        var traceValues = Options.ExportedPrecision == DataType.Float32 ? traces.Select(t => graph.Traces[t].Name).Distinct().ToArray() : [];
        var seconds = new Dictionary<string, double>();
        var results = new Dictionary<ValidationPath, IReadOnlyDictionary<string, HostTensor>>();

        if (Options.Paths.Contains(ValidationPath.Exported))
            results[ValidationPath.Exported] = Timed("exported", seconds,
                () => arch.CombineCalls(config, RunExported(resources, caseGraph, calls, traceValues, exportedModel, name)));
        if (Options.Paths.Contains(ValidationPath.Reference))
        {
            progress?.Invoke($"reference: {name} (TorchSharp, {Options.Precision.ShortName()}, {Options.Device})");
            results[ValidationPath.Reference] = Timed("reference", seconds,
                () => arch.CombineCalls(config, RunReference(caseGraph, calls, traceValues, Options.Precision)));
        }
        IReadOnlyDictionary<string, HostTensor>? exact = null;
        if (Options.Arbiter)
        {
            progress?.Invoke($"fp64: {name} (TorchSharp float64 arbiter, {Options.Device})");
            exact = Timed("fp64", seconds, () => arch.CombineCalls(config, RunReference(caseGraph, calls, traceValues, DataType.Float64)));
        }
        if (Options.CaptureTensors) Capture(name, graph, inputs, results, exact, prefixInputs);

        var reports = new List<OutputReport>();
        var firstDivergence = new Dictionary<string, string>();
        void Compare(string comparison, IReadOnlyDictionary<string, HostTensor> actual, IReadOnlyDictionary<string, HostTensor> expected,
            IReadOnlyDictionary<string, HostTensor> expectedTraces, DataType precision, bool informational = false)
        {
            foreach (var (output, want) in expected.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                var tol = Options.ToleranceFor(precision, output, _fixtureTolerances);
                var result = actual.TryGetValue(output, out var got)
                    ? TensorComparator.Compare(output, got, want, tol, Options.ErrorStat)
                    : ComparisonResult.Fail(output, "the graph has no such output");
                reports.Add(new OutputReport(name, output, comparison, result, Informational: informational));
            }
            foreach (var trace in traces)
            {
                if (!expectedTraces.TryGetValue(trace, out var want) || !actual.TryGetValue(graph.Traces[trace].Name, out var got)) continue;
                var tol = Options.ToleranceFor(precision, "trace." + trace, _fixtureTolerances);
                var result = TraceShapes.Compare(trace, got, want, tol, Options.ErrorStat);
                reports.Add(new OutputReport(name, "trace." + trace, comparison, result, Informational: informational));
                if (!result.Passed && !informational && !firstDivergence.ContainsKey(comparison)) firstDivergence[comparison] = trace;
            }
        }

        // The reference's own outputs (and trace values) keyed as the golden ones are: outputs by name, traces by trace name.
        IReadOnlyDictionary<string, HostTensor> Outputs(IReadOnlyDictionary<string, HostTensor> r) =>
            graph.Outputs.Where(o => r.ContainsKey(o.Name)).ToDictionary(o => o.Name, o => r[o.Name]);
        IReadOnlyDictionary<string, HostTensor> Traces(IReadOnlyDictionary<string, HostTensor> r) =>
            traces.Where(t => r.ContainsKey(graph.Traces[t].Name)).ToDictionary(t => t, t => r[graph.Traces[t].Name]);

        // An f16/bf16 artifact (ExportedPrecision) is held to its precision's tolerance; when that is looser than the
        // reference's, the comparisons with the reference use it too.
        var refPrecision = Options.ExportedPrecision != DataType.Float32 && Tolerance.For(Options.ExportedPrecision).Atol > Tolerance.For(Options.Precision).Atol
            ? Options.ExportedPrecision : Options.Precision;
        var notes = new List<string>();
        var goldenForExported = golden;
        if (results.TryGetValue(ValidationPath.Exported, out var exported) && exportedModel is not null)
        {
            // A given artifact's part may hold a subset of the case graph's outputs (a Gundam local-tile graph: projected
            // and image_newline only): what it lacks is not compared on the exported path, and said so.
            var lacking = graph.Outputs.Select(o => o.Name).Where(o => !exported.ContainsKey(o)).ToArray();
            if (lacking.Length > 0)
            {
                notes.Add($"{Path.GetFileName(exportedModel)} has no output {string.Join(", ", lacking)}: not compared on the exported path");
                goldenForExported = golden.Where(kv => exported.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
            }
        }
        if (exported is not null)
            Compare("exported vs golden", exported, goldenForExported, goldenTraces, Options.ExportedPrecision);
        if (results.TryGetValue(ValidationPath.Reference, out var reference))
            Compare("reference vs golden", reference, golden, goldenTraces, refPrecision);
        if (exported is not null && reference is not null)
            Compare("exported vs reference", exported, Outputs(reference).Where(kv => exported.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value),
                Traces(reference), refPrecision);

        List<ArbiterVerdict>? verdicts = null;
        if (exact is not null)
        {
            // Each path measured against the float64 result: which one is nearest the exact answer of this graph and these weights.
            var exactOutputs = Outputs(exact);
            var exactTraces = Traces(exact);
            var goldenByValue = golden.Concat(goldenTraces.Where(t => graph.Traces.ContainsKey(t.Key)).Select(t => KeyValuePair.Create(graph.Traces[t.Key].Name, t.Value)))
                .GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.First().Value);
            if (golden.Count > 0) Compare("golden vs fp64", goldenByValue, exactOutputs, exactTraces, DataType.Float32, informational: true);
            if (exported is not null) Compare("exported vs fp64", exported, exactOutputs, exactTraces, DataType.Float32, informational: true);
            if (reference is not null) Compare("reference vs fp64", reference, exactOutputs, exactTraces, Options.Precision, informational: true);
            verdicts = Arbitrate(name, reports);
            WaiveGoldenOutliers(reports, verdicts);
        }
        return new CaseReport(name, reports, firstDivergence, seconds, Arbiter: verdicts, Notes: notes.Count > 0 ? notes : null);
    }

    /// <summary>How much farther from fp64 than every other path a path must be to be named the outlier.</summary>
    public const double OutlierRatio = 4;

    /// <summary>Per output: distance of each path from fp64, the nearest, and the outlier (see <see cref="OutlierRatio"/>).</summary>
    private static List<ArbiterVerdict> Arbitrate(string name, List<OutputReport> reports)
    {
        var verdicts = new List<ArbiterVerdict>();
        foreach (var g in reports.Where(r => r.Comparison.EndsWith(" vs fp64", StringComparison.Ordinal) && double.IsFinite(r.Result.MaxAbs))
                     .GroupBy(r => r.Output))
        {
            var byPath = g.ToDictionary(r => r.Comparison[..^" vs fp64".Length], r => r);
            var max = byPath.ToDictionary(kv => kv.Key, kv => kv.Value.Result.MaxAbs);
            var mean = byPath.ToDictionary(kv => kv.Key, kv => kv.Value.Result.MeanAbs);
            string nearest = max.OrderBy(kv => kv.Value).First().Key;
            var ranked = max.OrderByDescending(kv => kv.Value).ToArray();
            // The outlier is at least 4x farther from fp64 than every other path, and farther than f32 rounding noise (1e-6).
            string? outlier = ranked.Length > 1 && ranked[0].Value > OutlierRatio * ranked[1].Value && ranked[0].Value > 1e-6 ? ranked[0].Key : null;
            verdicts.Add(new ArbiterVerdict(name, g.Key, max, mean, nearest, outlier));
        }
        return verdicts;
    }

    /// <summary>A path that fails against the golden but is within tolerance of fp64, where the golden is the outlier: the golden is wrong.</summary>
    private static void WaiveGoldenOutliers(List<OutputReport> reports, List<ArbiterVerdict> verdicts)
    {
        for (int i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            if (r.Result.Passed || r.Informational || !r.Comparison.EndsWith(" vs golden", StringComparison.Ordinal)) continue;
            string path = r.Comparison[..^" vs golden".Length];
            var v = verdicts.FirstOrDefault(v => v.Output == r.Output);
            var own = reports.FirstOrDefault(o => o.Output == r.Output && o.Comparison == path + " vs fp64");
            if (v?.Outlier == "golden" && own is { Result.Passed: true })
                reports[i] = r with { Waived = $"the golden is the outlier: {path} is {own.Result.MaxAbs:G3} from fp64, the golden {v.MaxAbsFromFp64["golden"]:G3}" };
        }
    }

    private void Capture(string name, Graph graph, IReadOnlyDictionary<string, HostTensor> inputs,
        Dictionary<ValidationPath, IReadOnlyDictionary<string, HostTensor>> results, IReadOnlyDictionary<string, HostTensor>? exact, bool prefixInputs)
    {
        foreach (var (k, v) in inputs) CapturedInputs[prefixInputs ? $"{name}.{k}" : k] = v;
        var paths = results.Select(kv => (kv.Key.ToString().ToLowerInvariant(), kv.Value)).ToList();
        if (exact is not null) paths.Add(("fp64", exact));
        foreach (var (path, r) in paths)
            foreach (var o in graph.Outputs.Where(o => r.ContainsKey(o.Name)))
                CapturedOutputs[$"{name}.{path}.{o.Name}"] = r[o.Name];
    }

    /// <summary>Why a case's inputs cannot feed the given artifact part (it was exported for one input size), or null.</summary>
    private static string? Misfit(OrtRunner runner, IReadOnlyDictionary<string, HostTensor> inputs, string label)
    {
        // A case can feed more inputs than one part takes (DeepSeek-OCR 2's one-image case: global view + crops).
        if (inputs.Keys.FirstOrDefault(k => runner.Inputs.All(i => i.Name != k)) is { } extra)
            return $"{label} takes no input {extra}";
        foreach (var (name, _, dims) in runner.Inputs)
            if (inputs.TryGetValue(name, out var t) && (t.Shape.Length != dims.Length || dims.Where((d, i) => d > 0 && d != t.Shape[i]).Any()))
                return $"input {name} {t.ShapeText} does not fit {label}'s " +
                    $"[{string.Join(", ", dims.Select(d => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?"))}]";
        return null;
    }

    /// <summary>The trace values a given artifact's session exposes for a case (fp32 artifacts only, as RunCase compares).</summary>
    private (string Name, TensorType Type)[] ArtifactExtras(Graph graph, IReadOnlyDictionary<string, HostTensor> goldenTraces) =>
        Options.Traces && Options.ExportedPrecision == DataType.Float32
            ? goldenTraces.Keys.Where(graph.Traces.ContainsKey).Select(t => graph.Traces[t].Name).Distinct(StringComparer.Ordinal)
                .Order(StringComparer.Ordinal).Select(n => (n, graph.Find(n)!.Type)).ToArray()
            : [];

    private List<IReadOnlyDictionary<string, HostTensor>> RunExported(ParityResources resources, ParityResources.CaseGraph caseGraph,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, string[] extra, string? given, string name)
    {
        var graph = caseGraph.Graph;
        if (given is not null)
        {
            // The shipped artifact itself, never written to: intermediates are exposed through an in-memory copy of its
            // graph whose external data is read from the artifact's folder. One session per part and run.
            var artifact = resources.Artifact(given, extra.Order(StringComparer.Ordinal).Select(n => (n, graph.Find(n)!.Type)).ToArray());
            progress?.Invoke($"exported: {name} on {Path.GetFileName(given)} (ONNX Runtime run)");
            var available = artifact.Outputs.Select(o => o.Name).ToHashSet();
            var present = graph.Outputs.Select(o => o.Name).Concat(extra).Where(available.Contains).ToArray();
            return calls.Select(inputs => artifact.Run(inputs, present)).ToList();
        }
        var runner = caseGraph.Exported(extra, name);
        progress?.Invoke($"exported: {name} (ONNX Runtime run)");
        var wanted = graph.Outputs.Select(o => o.Name).Concat(extra).ToArray();
        return calls.Select(inputs => runner.Run(inputs, wanted)).ToList();
    }

    private static List<IReadOnlyDictionary<string, HostTensor>> RunReference(ParityResources.CaseGraph caseGraph,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, string[] extra, DataType precision)
    {
        var evaluator = caseGraph.Reference(precision);
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
