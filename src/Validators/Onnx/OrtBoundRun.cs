using Microsoft.ML.OnnxRuntime;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Onnx;

/// <summary>
/// A session's inputs and outputs bound once through ONNX Runtime's IOBinding, for timing repeated runs (bench):
/// inputs are copied into ONNX Runtime once; outputs are bound to the provider's memory (CUDA / TensorRT: device memory
/// of the runner's device id; CPU: host memory), so <see cref="Run"/> copies nothing back between iterations.
/// </summary>
public sealed class OrtBoundRun : IDisposable
{
    private readonly OrtRunner _runner;
    private readonly OrtIoBinding _binding;
    private readonly List<OrtValue> _inputs = [];
    private readonly OrtMemoryInfo? _deviceMemory;
    private readonly RunOptions _runOptions = new();

    private OrtBoundRun(OrtRunner runner)
    {
        _runner = runner;
        _binding = runner.Session.CreateIoBinding();
        if (runner.Provider is OrtProvider.Cuda or OrtProvider.TensorRt)
            _deviceMemory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, runner.DeviceId,
                OrtMemType.Default);
    }

    /// <summary>Whether outputs are kept in device memory (CUDA / TensorRT) rather than host memory.</summary>
    public bool OutputsOnDevice => _deviceMemory is not null;

    /// <summary>Binds <paramref name="inputs"/> (checked as <see cref="OrtRunner.Run"/> checks them) and the wanted outputs.</summary>
    public static OrtBoundRun Create(OrtRunner runner, IReadOnlyDictionary<string, HostTensor> inputs, IEnumerable<string>? outputs = null)
    {
        var bound = new OrtBoundRun(runner);
        try
        {
            var session = runner.Session;
            foreach (var (name, meta) in session.InputMetadata)
            {
                if (!inputs.TryGetValue(name, out var t))
                    throw new ArgumentException(
                        $"{runner.ModelPath}: input '{name}' not given (inputs: {string.Join(", ", session.InputMetadata.Keys)})");
                var dims = meta.Dimensions;
                if (dims.Length != t.Shape.Length || dims.Where((d, i) => d > 0 && d != t.Shape[i]).Any())
                    throw new ArgumentException(
                        $"{runner.ModelPath}: input '{name}' has shape {t.ShapeText}, "
                            + $"the model expects rank {dims.Length} [{string.Join(", ", dims)}]");
                var value = OrtRunner.ToOrt(name, t, meta.ElementDataType);
                bound._inputs.Add(value);
                bound._binding.BindInput(name, value);
            }
            foreach (var o in (outputs ?? session.OutputMetadata.Keys).Distinct())
            {
                if (!session.OutputMetadata.ContainsKey(o)) throw new ArgumentException(
                    $"{runner.ModelPath}: the model has no output '{o}'");
                bound._binding.BindOutputToDevice(o, bound._deviceMemory ?? OrtMemoryInfo.DefaultInstance);
            }
            bound._binding.SynchronizeBoundInputs();
            return bound;
        }
        catch
        {
            bound.Dispose();
            throw;
        }
    }

    /// <summary>One inference; returns when the outputs are complete (synchronised), still in their bound memory.</summary>
    public void Run()
    {
        _runner.Session.RunWithBinding(_runOptions, _binding);
        _binding.SynchronizeBoundOutputs();
    }

    /// <summary>The outputs of the last <see cref="Run"/> as host tensors (host-memory bindings only: CPU provider).</summary>
    public IReadOnlyDictionary<string, HostTensor> CopyOutputs()
    {
        if (OutputsOnDevice) throw new NotSupportedException("outputs are bound to device memory; use OrtRunner.Run to read values");
        var names = _binding.GetOutputNames();
        using var values = _binding.GetOutputValues();
        var result = new Dictionary<string, HostTensor>();
        for (int i = 0; i < names.Length; i++) result[names[i]] = OrtRunner.FromOrt(values[i]);
        return result;
    }

    public void Dispose()
    {
        _binding.Dispose();
        foreach (var v in _inputs) v.Dispose();
        _deviceMemory?.Dispose();
        _runOptions.Dispose();
    }
}
