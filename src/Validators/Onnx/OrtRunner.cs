using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Onnx;

/// <summary>Execution provider of ONNX Runtime. Same managed API for the CPU and GPU native packages.</summary>
public enum OrtProvider
{
    Cpu,
    Cuda,
    TensorRt,
}

/// <summary>Session settings.</summary>
public sealed record OrtRunnerOptions(
    OrtProvider Provider = OrtProvider.Cpu,
    int IntraOpThreads = 0,
    GraphOptimizationLevel Optimization = GraphOptimizationLevel.ORT_ENABLE_ALL)
{
    /// <summary>
    /// ONNX Runtime's CPU memory arena and memory-pattern planning (on by default). Off, every tensor is allocated and freed
    /// on its own, so the process's resident memory follows the live tensors (what `bench --no-arena` measures).
    /// </summary>
    public bool MemoryArena { get; init; } = true;

    /// <summary>
    /// Whether the CPU provider pre-packs constant MatMul/Conv weights at session creation (on by default: faster runs).
    /// Off, the weights stay in the file's memory map (clean pages the system can drop and re-read) and no packed copy is
    /// made; validate turns it off so that a session holds its weights once, as file pages.
    /// </summary>
    public bool PrePack { get; init; } = true;

    /// <summary>GPU ordinal for the CUDA and TensorRT providers.</summary>
    public int DeviceId { get; init; }

    /// <summary>TensorRT provider settings (fp16, caches, profile shapes); used with <see cref="OrtProvider.TensorRt"/>.</summary>
    public TensorRtEpOptions? TensorRt { get; init; }
}

/// <summary>
/// Runs an ONNX file with ONNX Runtime on <see cref="HostTensor"/>s. Input names, dtypes and shapes are checked against
/// the model before ONNX Runtime sees them, so a mistake is one clear <see cref="ArgumentException"/>.
/// </summary>
public sealed partial class OrtRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _options;

    /// <summary>Models up to this size are parsed before loading to check their external data files (64 MiB).</summary>
    private const long MaxCheckedModelBytes = 64L << 20;

    /// <summary>Whether ONNX Runtime's own log lines (warnings) reach stderr; the CLI sets it from --verbose.</summary>
    public static bool ShowNativeLogs { get; set; }

    public OrtRunner(string modelPath, OrtRunnerOptions? options = null)
        : this(modelPath, null, options)
    {
    }

    /// <summary>
    /// Runs an edited copy of <paramref name="modelPath"/> held in memory (<paramref name="model"/>, e.g. with extra trace
    /// outputs); its external data is read from <paramref name="modelPath"/>'s folder, so no copy is ever written to disk.
    /// </summary>
    public OrtRunner(string modelPath, byte[]? model, OrtRunnerOptions? options = null)
    {
        options ??= new OrtRunnerOptions();
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: ONNX model not found");
        if (Converters.IO.SafeFile.Defect(modelPath) is { } defect) throw new ArgumentException($"{modelPath}: {defect}");
        // ONNX Runtime would open external data itself (a FIFO there blocks forever): check every external file first.
        // Models with external data are small protobufs; one with inline weights has none to check.
        try
        {
            if (new FileInfo(modelPath).Length <= MaxCheckedModelBytes) Converters.Onnx.OnnxModelReader.Read(modelPath);
        }
        catch (Converters.Onnx.OnnxFormatException e)
        {
            throw new ArgumentException(e.Message); // "model.onnx: ...", as every OrtRunner refusal
        }
        _options = new SessionOptions
        {
            GraphOptimizationLevel = options.Optimization,
            IntraOpNumThreads = options.IntraOpThreads,
            // ONNX Runtime's own warnings go straight to stderr; users see them only with --verbose (errors come as exceptions).
            LogSeverityLevel = ShowNativeLogs ? OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        if (!options.MemoryArena) (_options.EnableCpuMemArena, _options.EnableMemoryPattern) = (false, false);
        if (!options.PrePack) _options.AddSessionConfigEntry("session.disable_prepacking", "1");
        try
        {
            ExecutionProviders.Append(_options, options.Provider, options.DeviceId, options.TensorRt);
        }
        catch
        {
            _options.Dispose();
            throw;
        }
        Provider = options.Provider;
        DeviceId = options.DeviceId;
        try
        {
            if (model is null)
            {
                _session = new InferenceSession(modelPath, _options);
            }
            else
            {
                _options.AddSessionConfigEntry("session.model_external_initializers_file_folder_path",
                    Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
                _session = new InferenceSession(model, _options);
            }
        }
        catch (OnnxRuntimeException e)
        {
            _options.Dispose();
            throw new ArgumentException($"{modelPath}: ONNX Runtime cannot load it ({e.Message.ReplaceLineEndings(" ")})");
        }
        ModelPath = modelPath;
    }

    public string ModelPath { get; }

    /// <summary>The execution provider the session was made for.</summary>
    public OrtProvider Provider { get; }

    /// <summary>The GPU ordinal of a CUDA/TensorRT session.</summary>
    public int DeviceId { get; }

    /// <summary>The session, for <see cref="OrtBoundRun"/> (IOBinding).</summary>
    internal InferenceSession Session => _session;

    public IReadOnlyList<(string Name, string ElementType, long[] Dims)> Inputs =>
        _session.InputMetadata
            .Select(kv => (kv.Key, kv.Value.ElementDataType.ToString(), kv.Value.Dimensions.Select(d => (long)d).ToArray())).ToArray();

    public IReadOnlyList<(string Name, string ElementType, long[] Dims)> Outputs =>
        _session.OutputMetadata
            .Select(kv => (kv.Key, kv.Value.ElementDataType.ToString(), kv.Value.Dimensions.Select(d => (long)d).ToArray())).ToArray();

    /// <summary>
    /// Binds inputs and outputs once (IOBinding) for repeated timed runs; outputs stay in the provider's memory (device
    /// memory for CUDA/TensorRT). For bench: <c>using var b = runner.Bind(inputs); b.Run();</c>.
    /// </summary>
    public OrtBoundRun Bind(IReadOnlyDictionary<string, HostTensor> inputs, IEnumerable<string>? outputNames = null) =>
        OrtBoundRun.Create(this, inputs, outputNames);

    /// <summary>
    /// The inputs as OrtValues in the session's input order, checked first (every input given, shapes fit, no unknown names):
    /// a mistake is one ArgumentException naming the input, before ONNX Runtime sees anything. The caller disposes the values.
    /// </summary>
    private (List<string> Names, List<OrtValue> Values) ToOrtInputs(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, meta) in _session.InputMetadata)
            {
                if (!inputs.TryGetValue(name, out var t))
                    throw new ArgumentException(
                        $"{ModelPath}: input '{name}' not given (inputs: {string.Join(", ", _session.InputMetadata.Keys)})");
                var dims = meta.Dimensions;
                if (dims.Length != t.Shape.Length || dims.Where((d, i) => d > 0 && d != t.Shape[i]).Any())
                    throw new ArgumentException($"{ModelPath}: input '{name}' has shape {t.ShapeText}, the model expects " +
                        $"[{string.Join(", ", dims.Select((d, i) =>
                            d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : meta.SymbolicDimensions[i]))}]");
                names.Add(name);
                values.Add(ToOrt(name, t, meta.ElementDataType));
            }
            foreach (var extra in inputs.Keys.Where(k => !_session.InputMetadata.ContainsKey(k)))
                throw new ArgumentException($"{ModelPath}: the model has no input '{extra}'");
            return (names, values);
        }
        catch
        {
            foreach (var v in values) v.Dispose();
            throw;
        }
    }

    /// <summary>Runs the model; returns the requested outputs (default: all) as f32 (or i64) host tensors.</summary>
    public IReadOnlyDictionary<string, HostTensor> Run(IReadOnlyDictionary<string, HostTensor> inputs,
        IEnumerable<string>? outputNames = null)
    {
        var (names, values) = ToOrtInputs(inputs);
        try
        {
            var wanted = (outputNames ?? _session.OutputMetadata.Keys).Distinct().ToArray();
            foreach (var o in wanted.Where(o => !_session.OutputMetadata.ContainsKey(o)))
                throw new ArgumentException($"{ModelPath}: the model has no output '{o}'");
            using var run = new RunOptions();
            using var results = _session.Run(run, names, values, wanted);
            var outputs = new Dictionary<string, HostTensor>();
            for (int i = 0; i < wanted.Length; i++) outputs[wanted[i]] = FromOrt(results[i]);
            return outputs;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    internal static OrtValue ToOrt(string name, HostTensor t, TensorElementType type) => type switch
    {
        TensorElementType.Float when t.Floats is not null => OrtValue.CreateTensorValueFromMemory(t.Floats, t.Shape),
        TensorElementType.Float16 when t.Floats is not null =>
            OrtValue.CreateTensorValueFromMemory(t.Floats.Select(f => (Float16)f).ToArray(), t.Shape),
        TensorElementType.BFloat16 when t.Floats is not null =>
            OrtValue.CreateTensorValueFromMemory(t.Floats.Select(f => (BFloat16)f).ToArray(), t.Shape),
        TensorElementType.Int64 when t.Longs is not null => OrtValue.CreateTensorValueFromMemory(t.Longs, t.Shape),
        _ => throw new ArgumentException($"input '{name}': {t.DType.ShortName()} data cannot feed a {type} model input"),
    };

    internal static HostTensor FromOrt(OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        long[] shape = info.Shape;
        return info.ElementDataType switch
        {
            TensorElementType.Float => new HostTensor(shape, v.GetTensorDataAsSpan<float>().ToArray()),
            TensorElementType.Float16 =>
                new HostTensor(shape, v.GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h).ToArray(), DataType.Float16),
            TensorElementType.BFloat16 =>
                new HostTensor(shape, v.GetTensorDataAsSpan<BFloat16>().ToArray().Select(h => (float)h).ToArray(), DataType.BFloat16),
            TensorElementType.Int64 => new HostTensor(shape, v.GetTensorDataAsSpan<long>().ToArray()),
            var other => throw new NotSupportedException($"output of type {other} is not supported"),
        };
    }

    public void Dispose()
    {
        _session.Dispose();
        _options.Dispose();
    }
}
