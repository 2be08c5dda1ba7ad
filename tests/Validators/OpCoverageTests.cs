using FluentAssertions;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;

namespace ModelForge.Tests.Validators;

/// <summary>Every op kind through every back-end (ONNX Runtime at opsets 17, 20 and 23, TorchSharp), against each other.</summary>
public class OpCoverageTests
{
    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (var s in OpSamples.All) data.Add(s.Name);
        return data;
    }

    [Fact]
    public void Every_op_kind_has_a_sample()
    {
        var covered = OpSamples.All.Select(s => s.Op).ToHashSet();
        OpCatalog.All.Where(t => !covered.Contains(t)).Select(t => t.Name)
            .Should().BeEmpty("every op kind needs a sample that runs on every back-end");
        foreach (var s in OpSamples.All) s.Graph.Nodes.Should().Contain(n => n.Op.GetType() == s.Op, s.Name);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Exported_and_reference_paths_agree(string name)
    {
        var sample = OpSamples.All.Single(s => s.Name == name);
        TorchEvaluator.Unsupported(sample.Graph).Should().BeEmpty();
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var tmp = new TempDir();
        using var reference = new TorchEvaluator(sample.Graph, sample.Weights);
        foreach (int opset in new[] { 17, 20, 23 })
        {
            OnnxExporter.Unsupported(sample.Graph, new OnnxExportOptions(opset)).Should().BeEmpty();
            var export = OnnxExporter.Export(sample.Graph, sample.Weights, tmp.File($"{name}-{opset}.onnx"), new OnnxExportOptions(opset));
            using var ort = new OrtRunner(export.ModelPath);
            foreach (int batch in new[] { 1, 3 })
            {
                var inputs = sample.Inputs(batch);
                var want = reference.Run(inputs)["y"];
                var got = ort.Run(inputs)["y"];
                var c = TensorComparator.Compare("y", got, want, new Tolerance(1e-5, 1e-5));
                c.Passed.Should().BeTrue($"{name} opset {opset} batch {batch}: {c.Failure}, max abs {c.MaxAbs}");
            }
        }
    }

    [Fact]
    public void Gather_refuses_out_of_range_indices_in_dotnet_not_in_libtorch()
    {
        // An out-of-range index_select inside libtorch would terminate the test host; the kernel must check first.
        var sample = OpSamples.All.Single(s => s.Name == "gather_input");
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var reference = new TorchEvaluator(sample.Graph, sample.Weights);
        var bad = new Dictionary<string, HostTensor> { ["idx"] = new HostTensor([1, 2], [0L, 6L]) };
        var act = () => reference.Run(bad);
        act.Should().Throw<ArgumentException>().WithMessage("*[0, 6)*0..6*");
    }

    private sealed record Dummy : Op
    {
        public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs) => [inputs[0]];
    }

    [Fact]
    public void Back_ends_refuse_an_op_kind_they_do_not_know_up_front()
    {
        var b = new GraphBuilder("dummy");
        b.Output("y", b.Op(new Dummy(), b.Input("x", Dim.Sym("B"), 2)));
        OnnxExporter.Unsupported(b.Graph, new OnnxExportOptions()).Should().ContainSingle().Which.Should().Contain("Dummy");
        TorchEvaluator.Unsupported(b.Graph).Should().ContainSingle().Which.Should().Contain("Dummy");
    }
}
