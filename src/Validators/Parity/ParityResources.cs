using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Torch;

namespace ModelForge.Validators.Parity;

/// <summary>
/// What one validate run holds across its cases, so that memory does not grow with the number of cases:
/// the reference path's checkpoint weights converted once (<see cref="TorchWeightCache"/>, shared by every case graph),
/// one ONNX Runtime session per artifact part (and per set of exposed trace values), and the current case graph with
/// its evaluators and its freshly exported session. Cases with the same build request (every Qwen2-VL case; repeated
/// sizes elsewhere) reuse that graph, its export and its session; a case needing another graph releases the previous
/// one first, so at most one exported copy of the weights is held besides the artifact parts.
/// </summary>
internal sealed class ParityResources : IDisposable
{
    private readonly ValidationOptions _options;
    private readonly OrtRunnerOptions _ort;
    private readonly Action<string>? _progress;
    private readonly Checkpoint _checkpoint;
    private readonly CheckpointAdapter _adapter;
    private readonly Dictionary<string, OrtRunner> _artifacts = new(StringComparer.Ordinal);
    private CaseGraph? _current;

    public ParityResources(ValidationOptions options, Checkpoint checkpoint, CheckpointAdapter adapter, Action<string>? progress)
    {
        _options = options;
        // Sessions for parity, not speed: no pre-packed weight copies (the weights stay file pages of the ONNX data) and
        // no CPU arena (a case's activations go back to the system after its run, before the reference path needs memory).
        _ort = (options.Ort ?? new OrtRunnerOptions()) with { PrePack = false, MemoryArena = false };
        _progress = progress;
        _checkpoint = checkpoint;
        _adapter = adapter;
        Weights = new CheckpointWeights(checkpoint, adapter);
        ReferenceWeights = new TorchWeightCache(Weights);
    }

    /// <summary>The run's validation options.</summary>
    public ValidationOptions Options => _options;

    /// <summary>The checkpoint through the family's adapter (one object, so the weight cache can check it).</summary>
    public CheckpointWeights Weights { get; }

    /// <summary>Reference-path weights, converted when first needed and shared by all case graphs.</summary>
    public TorchWeightCache ReferenceWeights { get; }

    /// <summary>
    /// The case graph for <paramref name="key"/> (a build request, or the given graph itself): the current one when the
    /// key is equal, else the previous graph is released and <paramref name="build"/>'s graph verified and pruned.
    /// </summary>
    public CaseGraph Graph(object key, Func<Graph> build)
    {
        if (_current is not null && Equals(_current.Key, key)) return _current;
        _current?.Dispose();
        _current = null;
        var graph = build();
        WeightBinder.Verify(graph, _checkpoint, _adapter);
        graph.PruneUnused();
        _current = new CaseGraph(key, graph, this);
        return _current;
    }

    /// <summary>
    /// The session of a given artifact part for the run; with trace values, an in-memory copy of its graph exposing them
    /// (its external data is read from the artifact's folder). Created once per part and value set.
    /// </summary>
    public OrtRunner Artifact(string part, IReadOnlyList<(string Name, TensorType Type)> extra)
    {
        string key = part + "\n" + string.Join("\n", extra.Select(e => e.Name));
        if (_artifacts.TryGetValue(key, out var runner)) return runner;
        _progress?.Invoke($"session: {Path.GetFileName(part)} (ONNX Runtime)");
        runner = extra.Count == 0
            ? new OrtRunner(part, _ort)
            : new OrtRunner(part, OnnxModelEditor.WithExtraOutputsInMemory(part, extra), _ort);
        _artifacts[key] = runner;
        return runner;
    }

    /// <summary>
    /// Between cases: the case's managed arrays (inputs, outputs, traces not kept) are collected now, the large-object
    /// heap compacted, and glibc asked to return freed heap pages, so the next case starts from the live set.
    /// </summary>
    public static void ReleaseFreedMemory()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        Bench.ProcessMemory.TrimNativeHeap();
    }

    /// <summary>
    /// After one path has run on every case: its sessions, exports, evaluators and converted weights are released (and the
    /// memory returned) before the next path loads its own.
    /// </summary>
    public void EndPass()
    {
        _current?.Dispose();
        _current = null;
        foreach (var r in _artifacts.Values) r.Dispose();
        _artifacts.Clear();
        ReferenceWeights.Clear();
        ReleaseFreedMemory();
    }

    public void Dispose()
    {
        _current?.Dispose();
        _current = null;
        foreach (var r in _artifacts.Values) r.Dispose();
        _artifacts.Clear();
        ReferenceWeights.Dispose();
    }

    /// <summary>One case graph (verified, pruned) with its reference evaluators and freshly exported sessions.</summary>
    internal sealed class CaseGraph(object key, Graph graph, ParityResources owner) : IDisposable
    {
        private readonly Dictionary<DataType, TorchEvaluator> _evaluators = [];
        private readonly Dictionary<string, OrtRunner> _exported = new(StringComparer.Ordinal);
        private readonly List<string> _folders = [];

        public object Key { get; } = key;

        public Graph Graph { get; } = graph;

        /// <summary>The reference evaluator in <paramref name="precision"/> (f32: the graph's own types), made once.</summary>
        public TorchEvaluator Reference(DataType precision)
        {
            if (_evaluators.TryGetValue(precision, out var e)) return e;
            var options = new TorchEvalOptions(owner._options.Device, precision == DataType.Float32 ? null : precision);
            e = new TorchEvaluator(Graph, owner.Weights, options, owner.ReferenceWeights);
            _evaluators[precision] = e;
            return e;
        }

        /// <summary>The graph exported to a private temporary folder (with <paramref name="extra"/> exposed) and its session.</summary>
        public OrtRunner Exported(string[] extra, string caseName)
        {
            string key = string.Join("\n", extra);
            if (_exported.TryGetValue(key, out var runner)) return runner;
            string dir = Converters.IO.PrivateTemp.NewFolder("validate");
            _folders.Add(dir);
            owner._progress?.Invoke($"export: {caseName} graph to ONNX (temporary)");
            var export = OnnxExporter.Export(Graph, owner.Weights, Path.Combine(dir, "model.onnx"),
                new OnnxExportOptions(owner._options.Opset) { ExtraOutputs = extra });
            ReleaseFreedMemory();   // the exporter's per-weight f32 arrays, before the session maps the weights
            owner._progress?.Invoke($"session: {caseName} graph (ONNX Runtime)");
            runner = new OrtRunner(export.ModelPath, owner._ort);
            _exported[key] = runner;
            return runner;
        }

        public void Dispose()
        {
            foreach (var e in _evaluators.Values) e.Dispose();
            _evaluators.Clear();
            foreach (var r in _exported.Values) r.Dispose();
            _exported.Clear();
            foreach (var dir in _folders)
            {
                try
                {
                    Directory.Delete(dir, true);
                }
                catch (IOException)
                {
                    // A temporary folder that cannot be removed now is left to the system's temp cleaning.
                }
            }
            _folders.Clear();
        }
    }
}

/// <summary>
/// One case while its paths run one after another (ParityRunner.RunCases): what it feeds, what it is compared with, the
/// graph it needs (by build key, so cases of one request share it), and each path's results until it is compared. Calls
/// are planned in each pass (PlanCalls), so that a fixture's golden inputs are read only while their case runs.
/// </summary>
internal sealed record CaseRun(
    string Name,
    IReadOnlyDictionary<string, HostTensor> Inputs,
    Func<IReadOnlyList<IReadOnlyDictionary<string, HostTensor>>> PlanCalls,
    IReadOnlyDictionary<string, HostTensor> Golden,
    IReadOnlyDictionary<string, HostTensor> GoldenTraces,
    object Key,
    Func<Graph> Build,
    bool PrefixInputs)
{
    /// <summary>The artifact part the case runs on (null: a fresh export of its graph).</summary>
    public string? ExportedModel { get; set; }

    /// <summary>Set when no artifact part fits the case.</summary>
    public CaseReport? Skipped { get; set; }

    public Dictionary<string, double> Seconds { get; } = [];

    public Dictionary<ValidationPath, IReadOnlyDictionary<string, HostTensor>> Results { get; } = [];

    /// <summary>Results of earlier passes, kept on disk (ResultSpill) until the case is compared.</summary>
    public Dictionary<ValidationPath, Func<IReadOnlyDictionary<string, HostTensor>>> Spilled { get; } = [];

    /// <summary>The fp64 arbiter's results.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Exact { get; set; }
}
