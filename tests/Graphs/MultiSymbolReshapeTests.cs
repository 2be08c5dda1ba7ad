using FluentAssertions;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Torch;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>
/// Shapes with two symbols on different axes (Qwen2-VL's frames F and per-frame patches 4*M): Reshape infers and checks
/// them as a known factor times a symbol multiset, and both back-ends run such reshapes (ONNX: one dim left to -1).
/// </summary>
public class MultiSymbolReshapeTests
{
    private static readonly Dim F = Dim.Sym("F"), M = Dim.Sym("M");

    [Fact]
    public void Reshape_keeps_each_symbol_on_an_axis_of_its_own()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", F, M * 4, 8);
        b.Reshape(x, F, M * 4, 2, 4).Shape.Should().Be(new Shape(F, M * 4, 2, 4));
        b.Reshape(x, F, M, 32).Shape.Should().Be(new Shape(F, M, 32));
        b.Reshape(x, F, -1).Shape.Should().Be(new Shape(F, M * 32));
        b.Reshape(x, -1, M, 32).Shape.Should().Be(new Shape(F, M, 32));
        // F*M would be one axis: not a monomial, refused rather than guessed.
        var merged = () => b.Reshape(x, -1, 8);
        merged.Should().Throw<GraphException>().WithMessage("*cannot reshape [F, 4*M, 8] (32*F*M elements)*");
        var lost = () => b.Reshape(x, F, 32, 8);
        lost.Should().Throw<GraphException>().WithMessage("*cannot reshape*");
    }

    [Fact]
    public void Both_back_ends_run_a_two_symbol_reshape_chain()
    {
        // x [F, 4*M, 8] -> [F, 4*M, 2, 4] -> transpose -> [F, 2, 4*M, 4] -> back -> [F, M, 32]: values checked by hand.
        var b = new GraphBuilder("t");
        var x = b.Input("x", F, M * 4, 8);
        var heads = b.Transpose(b.Reshape(x, F, M * 4, 2, 4), 0, 2, 1, 3);
        var back = b.Reshape(b.Transpose(heads, 0, 2, 1, 3), F, M * 4, 8);
        b.Output("y", b.Reshape(back, F, M, 32));
        var g = b.Graph;
        OnnxExporter.Unsupported(g, new OnnxExportOptions()).Should().BeEmpty();
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var tmp = new TempDir();
        var weights = new MemoryWeights();
        var export = OnnxExporter.Export(g, weights, tmp.File("m.onnx"));
        using var ort = new OrtRunner(export.ModelPath);
        using var torch = new TorchEvaluator(g, weights);
        foreach (var (f, m) in new[] { (1, 1), (2, 3), (3, 2) })
        {
            var data = Enumerable.Range(0, f * 4 * m * 8).Select(i => (float)i).ToArray();
            var inputs = new Dictionary<string, HostTensor> { ["x"] = new([f, 4 * m, 8], data) };
            foreach (var y in new[] { ort.Run(inputs)["y"], torch.Run(inputs)["y"] })
            {
                y.Shape.Should().Equal(f, m, 32);
                y.Data.Should().Equal(data, "a reshape chain that ends where it started keeps row-major order");
            }
        }
    }
}
