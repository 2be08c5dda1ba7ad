using ModelForge.Graphs.Ir;
using ModelForge.Validators.Torch;

namespace ModelForge.Validators.Bench;

/// <summary>
/// Timing of the reference path (TorchSharp, op by op over the same IR graph) on the same inputs as the ONNX benchmark.
/// "Session creation" is loading the weights onto the device; each run copies the outputs back to the host, as the
/// reference path does in validation.
/// </summary>
public static class TorchBench
{
    public static BenchResult Run(Graph graph, IWeightSource weights, string device, int threads,
        IReadOnlyDictionary<string, HostTensor> inputs, BenchSettings settings, long batch = 1, Action<string>? progress = null)
    {
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        return BenchLoop.Run($"{graph.Name} (TorchSharp reference)", "torchsharp-" + device, threads,
            () => new Target(new TorchEvaluator(graph, weights, new TorchEvalOptions(device)), inputs), settings, batch, progress);
    }

    private sealed class Target(TorchEvaluator evaluator, IReadOnlyDictionary<string, HostTensor> inputs) : IBenchTarget
    {
        public IReadOnlyDictionary<string, string> PrepareInputs() => inputs.ToDictionary(kv => kv.Key, kv => kv.Value.ShapeText);

        public void RunOnce() => evaluator.Run(inputs);

        public void Dispose() => evaluator.Dispose();
    }
}
