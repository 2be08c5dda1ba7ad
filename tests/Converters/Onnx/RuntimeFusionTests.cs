using FluentAssertions;
using Microsoft.ML.OnnxRuntime;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;

namespace ModelForge.Tests.Converters.Onnx;

/// <summary>
/// Decompositions below an op's native opset are written in the form ONNX Runtime's graph optimizer fuses back into
/// one kernel: the session's optimized model (written with ORT_ENABLE_ALL, as every run here uses) is read back and its
/// ops counted, and the fused graph still computes what the TorchSharp path does.
/// </summary>
public class RuntimeFusionTests
{
    [Fact]
    public void Exact_gelu_below_opset_20_is_fused_by_onnx_runtime()
    {
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "fc.weight", 32, 16);
        var b = new GraphBuilder("gelu");
        var x = b.Input("x", Dim.Sym("B"), 5, 16);
        b.Output("y", b.Gelu(b.MatMul(x, b.Transpose(b.Weight("fc.weight", 32, 16), 1, 0))));
        var inputs = new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(3, 3, 2, 5, 16) };

        using var tmp = new TempDir();
        string model = OnnxExporter.Export(b.Graph, w, tmp.File("m.onnx"), new OnnxExportOptions(17)).ModelPath;
        OnnxModelReader.Read(model).OpCounts.Should().ContainKey("Erf", "opset 17 has no Gelu op: the export decomposes it");
        var fused = Optimized(model, tmp.File("optimized.onnx"));
        fused.Should().ContainKey("Gelu").And.NotContainKey("Erf").And.NotContainKey("Div");

        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var torch = new TorchEvaluator(b.Graph, w);
        using var ort = new OrtRunner(model);
        var c = TensorComparator.Compare("y", ort.Run(inputs)["y"], torch.Run(inputs)["y"], new Tolerance(1e-5, 1e-5));
        c.Passed.Should().BeTrue(c.Failure);
    }

    /// <summary>Ops of the model ONNX Runtime runs after its own graph optimizations (ORT_ENABLE_ALL, CPU).</summary>
    internal static IReadOnlyDictionary<string, int> Optimized(string model, string optimizedPath)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            OptimizedModelFilePath = optimizedPath,
        };
        using (new InferenceSession(model, options)) { }
        return OnnxModelReader.Read(optimizedPath).OpCounts;
    }
}
