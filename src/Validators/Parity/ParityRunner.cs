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
        // One set of resources for the whole run: each weight converted once, one session per part (see ParityResources).
        using var resources = new ParityResources(Options, fixture.Checkpoint, fixture.Architecture.AdapterFor(fixture.Config), progress);
        var runs = fixture.Cases.Select(c =>
        {
            var request = fixture.Architecture.RequestForCase(c.Json);
            // Golden inputs are the original processor's (Qwen2-VL: pixel_values + grid_thw); the family plans the graph
            // calls (one per image or video there) and later joins their results into what the original returned.
            Graph Build()
            {
                progress?.Invoke($"build: {fixture.Name} {c.Name} graph");
                return fixture.Architecture.Build(fixture.Config, request);
            }
            return new CaseRun(c.Name, c.Inputs, () => fixture.Architecture.PlanCalls(fixture.Config, c.Inputs), c.Outputs, c.Traces,
                request, Build, PrefixInputs: true);
        }).ToList();
        return Report(fixture.Name, fixture.Architecture.Name,
            RunCases(resources, fixture.Architecture, fixture.Config, runs, chooseParts: true));
    }

    /// <summary>
    /// Reference-vs-exported parity without goldens (random or given inputs; processor-style inputs such as Qwen's
    /// pixel_values + grid_thw are planned into graph calls by the family, with <paramref name="config"/>).
    /// </summary>
    public ValidationReport RunInputs(string subject, Architecture arch, Graph graph, Checkpoint checkpoint,
        IReadOnlyDictionary<string, HostTensor> inputs, System.Text.Json.JsonElement? config = null) =>
        RunInputCases(subject, arch, graph, checkpoint, [("inputs", inputs)], config);

    /// <summary>
    /// <see cref="RunInputs"/> over several named input sets (cases) on one graph: its weights, export and session are
    /// made once per path and serve every case. Saved inputs are keyed CASE.INPUT when there is more than one case.
    /// </summary>
    public ValidationReport RunInputCases(string subject, Architecture arch, Graph graph, Checkpoint checkpoint,
        IReadOnlyList<(string Name, IReadOnlyDictionary<string, HostTensor> Inputs)> inputCases,
        System.Text.Json.JsonElement? config = null)
    {
        using var resources = new ParityResources(Options, checkpoint, arch.AdapterFor(config), progress);
        var none = new Dictionary<string, HostTensor>();
        var runs = inputCases.Select(c => new CaseRun(c.Name, c.Inputs, () => arch.PlanCalls(config, c.Inputs), none, none, graph,
            () => graph, PrefixInputs: inputCases.Count > 1) { ExportedModel = Options.ExportedParts?[0] }).ToList();
        return Report(subject, arch.Name, RunCases(resources, arch, config, runs, chooseParts: false));
    }

    /// <summary>
    /// Every case, one path at a time: all cases on the exported path (one session per part or case graph), then on the
    /// reference path (each weight converted once), then fp64; each path's sessions or weights are released before the
    /// next path loads its own, so the peak holds one path's weights, not both. A case is compared after its last path
    /// and its results dropped then. With <paramref name="chooseParts"/>, the exported pass picks each case's artifact
    /// part (or skips the case: it fits none).
    /// </summary>
    private List<CaseReport> RunCases(ParityResources resources, Architecture arch, System.Text.Json.JsonElement? config,
        List<CaseRun> runs, bool chooseParts)
    {
        var passes = new List<string>();
        if (Options.Paths.Contains(ValidationPath.Exported)) passes.Add("exported");
        if (Options.Paths.Contains(ValidationPath.Reference)) passes.Add("reference");
        if (Options.Arbiter) passes.Add("fp64");
        var reports = new CaseReport?[runs.Count];
        // Cases of one graph run together (first-seen order of graphs, fixture order within one): each graph is built,
        // exported and given a session once per pass however its cases interleave. Reports keep the fixture's order.
        var order = runs.Select((r, i) => (r.Key, i)).GroupBy(x => x.Key).SelectMany(g => g.Select(x => x.i)).ToArray();
        using var spill = passes.Count > 1 ? new ResultSpill() : null;
        for (int p = 0; p < passes.Count; p++)
        {
            foreach (int i in order)
            {
                var run = runs[i];
                if (run.Skipped is not null) continue;
                var caseGraph = resources.Graph(run.Key, run.Build);
                var (traces, traceValues) = TracesOf(caseGraph.Graph, run.GoldenTraces);
                var calls = run.PlanCalls();
                if (passes[p] == "exported")
                {
                    if (chooseParts && Options.ExportedParts is { } parts
                        && ChoosePart(resources, run, calls, caseGraph.Graph, parts) is { } skipped)
                    {
                        run.Skipped = skipped;
                        continue;
                    }
                    run.Results[ValidationPath.Exported] = Timed("exported", run.Seconds,
                        () => arch.CombineCalls(config,
                            RunExported(resources, caseGraph, calls, traceValues, run.ExportedModel, run.Name)));
                }
                else if (passes[p] == "reference")
                {
                    progress?.Invoke($"reference: {run.Name} (TorchSharp, {Options.Precision.ShortName()}, {Options.Device})");
                    run.Results[ValidationPath.Reference] = Timed("reference", run.Seconds,
                        () => arch.CombineCalls(config, RunReference(caseGraph, calls, traceValues, Options.Precision)));
                }
                else
                {
                    progress?.Invoke($"fp64: {run.Name} (TorchSharp float64 arbiter, {Options.Device})");
                    run.Exact = Timed("fp64", run.Seconds,
                        () => arch.CombineCalls(config, RunReference(caseGraph, calls, traceValues, DataType.Float64)));
                }
                if (p == passes.Count - 1)
                {
                    foreach (var (path, load) in run.Spilled) run.Results[path] = load();
                    reports[i] = CompareCase(run, caseGraph.Graph, traces);
                    run.Results.Clear();
                    run.Spilled.Clear();
                    run.Exact = null;
                }
                else
                {
                    // Kept on disk until the case's last path has run (memory: one case's results at a time).
                    foreach (var (path, r) in run.Results) run.Spilled[path] = spill!.Keep(r);
                    run.Results.Clear();
                }
                ParityResources.ReleaseFreedMemory();
            }
            resources.EndPass();
        }
        return runs.Select((r, i) => r.Skipped ?? reports[i]!).ToList();
    }

    /// <summary>The artifact part the case's calls fit (set on <paramref name="run"/>), or the skipped case's report.</summary>
    private static CaseReport? ChoosePart(ParityResources resources, CaseRun run,
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> calls, Graph graph, IReadOnlyList<string> parts)
    {
        var misfits = new List<string>();
        var extra = ArtifactExtras(resources, graph, run.GoldenTraces);
        foreach (var part in parts)
        {
            string label = parts.Count == 1 ? "the artifact" : Path.GetFileName(part);
            var runner = resources.Artifact(part, extra);
            if (calls.Select(call => Misfit(runner, call, label)).FirstOrDefault(w => w is not null) is { } why) misfits.Add(why);
            else
            {
                run.ExportedModel = part;
                return null;
            }
        }
        return new CaseReport(run.Name, [], new Dictionary<string, string>(), new Dictionary<string, double>(),
            "skipped: " + string.Join("; ", misfits));
    }

    /// <summary>The golden traces the case compares (in graph order) and the IR values the paths must return for them.</summary>
    private (string[] Traces, string[] Values) TracesOf(Graph graph, IReadOnlyDictionary<string, HostTensor> goldenTraces)
    {
        var order = graph.Nodes.SelectMany(n => n.Outputs).Select((v, i) => (v, i)).ToDictionary(x => x.v, x => x.i);
        var traces = Options.Traces
            ? goldenTraces.Keys.Where(graph.Traces.ContainsKey).OrderBy(t => order.GetValueOrDefault(graph.Traces[t], -1)).ToArray()
            : [];
        var values = Options.ExportedPrecision == DataType.Float32 ? traces.Select(t => graph.Traces[t].Name).Distinct().ToArray() : [];
        return (traces, values);
    }

    private ValidationReport Report(string subject, string arch, List<CaseReport> cases)
    {
        var tolerances = new Dictionary<string, string>
        {
            ["exported vs golden"] = Options.ToleranceFor(Options.ExportedPrecision).ToString(),
            ["reference vs golden"] = Options.ToleranceFor(Options.Precision).ToString(),
            ["exported vs reference"] = Options.ToleranceFor(Options.Precision).ToString(),
        };
        foreach (var (output, o) in _fixtureTolerances)
            tolerances[$"fixture: {output}"] = o.Apply(Options.ToleranceFor(DataType.Float32)).ToString();
        foreach (var (output, o) in Options.OutputTolerances)
            tolerances[$"--atol/--rtol: {output}"] = o.Apply(Options.ToleranceFor(DataType.Float32)).ToString();
        if (Options.ErrorStat.Kind != ErrorStatKind.Elementwise) tolerances["check error stat"] = Options.ErrorStat.ToString();
        if (Options.Arbiter) tolerances["X vs fp64"] = Options.ToleranceFor(DataType.Float32).ToString() + " (arbiter: informational)";
        return new ValidationReport(subject, arch, Options.Device, Options.Precision.ShortName(), tolerances, cases);
    }

    /// <summary>
    /// Compares one case whose paths have all run: <see cref="CaseRun.Inputs"/> as given (what --save-inputs keeps),
    /// each path's results joined back by the family (Architecture.CombineCalls) from the calls it planned.
    /// </summary>
    private CaseReport CompareCase(CaseRun run, Graph graph, string[] traces)
    {
        var (name, inputs, exportedModel, seconds, results, exact) =
            (run.Name, run.Inputs, run.ExportedModel, run.Seconds, run.Results, run.Exact);
        // Read once for this comparison (a fixture's golden tensors are read from its file on access, and dropped after).
        var golden = run.Golden.ToDictionary(kv => kv.Key, kv => kv.Value);
        var goldenTraces = run.GoldenTraces.Keys.Where(k => traces.Contains(k) || Options.Arbiter)
            .ToDictionary(k => k, k => run.GoldenTraces[k]);
        if (Options.CaptureTensors) Capture(name, graph, inputs, results, exact, run.PrefixInputs);

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
                if (!expectedTraces.TryGetValue(trace, out var want) || !actual.TryGetValue(graph.Traces[trace].Name, out var got))
                    continue;
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
        var refPrecision = Options.ExportedPrecision != DataType.Float32
            && Tolerance.For(Options.ExportedPrecision).Atol > Tolerance.For(Options.Precision).Atol
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
                notes.Add($"{Path.GetFileName(exportedModel)} has no output {string.Join(", ", lacking)}: "
                    + "not compared on the exported path");
                goldenForExported = golden.Where(kv => exported.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
            }
        }
        if (exported is not null)
            Compare("exported vs golden", exported, goldenForExported, goldenTraces, Options.ExportedPrecision);
        if (results.TryGetValue(ValidationPath.Reference, out var reference))
            Compare("reference vs golden", reference, golden, goldenTraces, refPrecision);
        if (exported is not null && reference is not null)
            Compare("exported vs reference", exported,
                Outputs(reference).Where(kv => exported.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value),
                Traces(reference), refPrecision);

        List<ArbiterVerdict>? verdicts = null;
        if (exact is not null)
        {
            // Each path measured against the float64 result: which one is nearest the exact answer of this graph and these weights.
            var exactOutputs = Outputs(exact);
            var exactTraces = Traces(exact);
            var goldenByValue = golden
                .Concat(goldenTraces.Where(t => graph.Traces.ContainsKey(t.Key))
                    .Select(t => KeyValuePair.Create(graph.Traces[t.Key].Name, t.Value)))
                .GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.First().Value);
            if (golden.Count > 0)
                Compare("golden vs fp64", goldenByValue, exactOutputs, exactTraces, DataType.Float32, informational: true);
            if (exported is not null)
                Compare("exported vs fp64", exported, exactOutputs, exactTraces, DataType.Float32, informational: true);
            if (reference is not null)
                Compare("reference vs fp64", reference, exactOutputs, exactTraces, Options.Precision, informational: true);
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
        foreach (var g in reports
                     .Where(r => r.Comparison.EndsWith(" vs fp64", StringComparison.Ordinal) && double.IsFinite(r.Result.MaxAbs))
                     .GroupBy(r => r.Output))
        {
            var byPath = g.ToDictionary(r => r.Comparison[..^" vs fp64".Length], r => r);
            var max = byPath.ToDictionary(kv => kv.Key, kv => kv.Value.Result.MaxAbs);
            var mean = byPath.ToDictionary(kv => kv.Key, kv => kv.Value.Result.MeanAbs);
            string nearest = max.OrderBy(kv => kv.Value).First().Key;
            var ranked = max.OrderByDescending(kv => kv.Value).ToArray();
            // The outlier is at least 4x farther from fp64 than every other path, and farther than f32 rounding noise (1e-6).
            string? outlier = ranked.Length > 1 && ranked[0].Value > OutlierRatio * ranked[1].Value && ranked[0].Value > 1e-6
                ? ranked[0].Key : null;
            verdicts.Add(new ArbiterVerdict(name, g.Key, max, mean, nearest, outlier));
        }
        return verdicts;
    }

    /// <summary>
    /// A path that fails against the golden but is within tolerance of fp64, where the golden is the outlier: the golden is wrong.
    /// </summary>
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
                reports[i] = r with
                {
                    Waived = $"the golden is the outlier: {path} is {own.Result.MaxAbs:G3} from fp64, "
                        + $"the golden {v.MaxAbsFromFp64["golden"]:G3}",
                };
        }
    }

    private void Capture(string name, Graph graph, IReadOnlyDictionary<string, HostTensor> inputs,
        Dictionary<ValidationPath, IReadOnlyDictionary<string, HostTensor>> results, IReadOnlyDictionary<string, HostTensor>? exact,
        bool prefixInputs)
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
            if (inputs.TryGetValue(name, out var t)
                && (t.Shape.Length != dims.Length || dims.Where((d, i) => d > 0 && d != t.Shape[i]).Any()))
                return $"input {name} {t.ShapeText} does not fit {label}'s " +
                    $"[{string.Join(", ", dims.Select(d => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?"))}]";
        return null;
    }

    /// <summary>The trace values a given artifact's session exposes for a case (fp32 artifacts only, as RunCase compares).</summary>
    private static (string Name, TensorType Type)[] ArtifactExtras(ParityResources resources, Graph graph,
        IReadOnlyDictionary<string, HostTensor> goldenTraces) =>
        resources.Options.Traces && resources.Options.ExportedPrecision == DataType.Float32
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
