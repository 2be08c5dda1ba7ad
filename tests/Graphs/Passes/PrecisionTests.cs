using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;

namespace ModelForge.Tests.Graphs.Passes;

/// <summary>Precision plans: what ORT CPU can run, fp16 artifacts through validate, bf16 on TorchSharp, and why islands matter.</summary>
public class PrecisionTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    [Fact]
    public void Ort_cpu_runs_every_op_in_fp16_but_has_no_bf16_compute_kernels()
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var tmp = new TempDir();
        var noIslands = new PrecisionPlan { Precision = DataType.Float16, Fp32Ops = [], IoDType = DataType.Float16 };
        foreach (var s in OpSamples.All)
        {
            var g = PrecisionRewriter.Apply(s.Graph, noIslands);
            var e = OnnxExporter.Export(g, s.Weights, tmp.File(s.Name + ".onnx"), new OnnxExportOptions(17));
            using var ort = new OrtRunner(e.ModelPath);
            using var torch = new TorchEvaluator(g, s.Weights);
            var inputs = s.Inputs(2);
            var c = TensorComparator.Compare(s.Name, ort.Run(inputs)["y"], torch.Run(inputs)["y"], Tolerance.Fp16);
            c.Passed.Should().BeTrue($"{s.Name} in fp16: {c.Failure}");
        }
        var matmul = OpSamples.All.First(s => s.Name == "matmul_weight");
        var bf16 = PrecisionRewriter.Apply(matmul.Graph, noIslands with { Precision = DataType.BFloat16, IoDType = DataType.BFloat16 });
        var path = OnnxExporter.Export(bf16, matmul.Weights, tmp.File("bf16.onnx"), new OnnxExportOptions(17)).ModelPath;
        var load = () => new OrtRunner(path);
        load.Should().Throw<ArgumentException>().WithMessage("*Could not find an implementation for MatMul*");
    }

    [Fact]
    public void Fp16_artifact_passes_validate_against_the_fp32_reference_and_golden()
    {
        using var tmp = new TempDir();
        var export = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(Tiny, "model.safetensors"),
            "--config", Path.Combine(Tiny, "fixture.json"), "--precision", "fp16", "--out", tmp.File("fp16"));
        export.ExitCode.Should().Be(0, export.ToString());
        var m = OnnxModelReader.Read(tmp.File("fp16/model.onnx"));
        m.Metadata["precision"].Should().Be("f16");
        m.Initializers.Should().Contain(i => i.Name == "sam_model.blocks.0.attn.qkv.weight.T" && i.DType == DataType.Float16);
        m.Initializers.Should().Contain(i => i.Name == "sam_model.blocks.0.norm1.weight"
            && i.DType == DataType.Float32, "LayerNorm is an fp32 island");
        m.OpCounts["Cast"].Should().BeGreaterThan(0);
        m.Inputs.Single().DType.Should().Be(DataType.Float32, "io stays fp32 by default");
        using (var manifest = JsonDocument.Parse(File.ReadAllText(tmp.File("fp16/manifest.json"))))
        {
            var plan = manifest.RootElement.GetProperty("precision_plan");
            plan.GetProperty("precision").GetString().Should().Be("f16");
            plan.GetProperty("fp32_ops").EnumerateArray().Select(e => e.GetString())
                .Should().Contain(["LayerNorm", "Softmax", "ScaledDotProductAttention"]);
        }
        var v = Support.Cli.Run("validate", "--fixture", Tiny, "--onnx", tmp.File("fp16/model.onnx"));
        log.WriteLine(v.ToString());
        v.ExitCode.Should().Be(0, v.ToString());
        v.Stdout.Should().Contain("atol 0.02");
    }

    [Fact]
    public void Keep_fp32_patterns_keep_matching_scopes_and_their_weights_in_fp32()
    {
        using var fixture = GoldenFixture.Load(Tiny);
        var graph = fixture.Architecture.Build(fixture.Config, fixture.Architecture.RequestForCase(fixture.Cases[0].Json));
        graph.PruneUnused();
        PassManager.For(PassRegistry.Default).Run(graph);
        var plan = PrecisionRewriter.Apply(graph, new PrecisionPlan { Precision = DataType.Float16, KeepFp32 = ["sam_model.blocks.0.*"] });
        var block0 = plan.Nodes.Where(n => n.Op is MatMul && n.Name.StartsWith("sam_model.blocks.0.", StringComparison.Ordinal)).ToArray();
        var block1 = plan.Nodes.Where(n => n.Op is MatMul && n.Name.StartsWith("sam_model.blocks.1.", StringComparison.Ordinal)).ToArray();
        block0.Should().NotBeEmpty();
        block0.Should().OnlyContain(n => n.Outputs[0].DType == DataType.Float32);
        block1.Should().OnlyContain(n => n.Outputs[0].DType == DataType.Float16);
        plan.Find("sam_model.blocks.0.attn.qkv.weight.T")!.DType.Should().Be(DataType.Float32);
        plan.Find("sam_model.blocks.1.attn.qkv.weight.T")!.DType.Should().Be(DataType.Float16);
        plan.Verify();
    }

    [Fact]
    public void Bf16_plan_numerics_on_the_TorchSharp_path_match_the_fp32_golden()
    {
        // ORT CPU has no bf16 kernels (see above): the bf16 plan (same graph, same Casts) runs on TorchSharp only.
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var fixture = GoldenFixture.Load(Tiny);
        var c = fixture.Cases[0];
        var graph = fixture.Architecture.Build(fixture.Config, fixture.Architecture.RequestForCase(c.Json));
        graph.PruneUnused();
        PassManager.For(PassRegistry.Default).Run(graph);
        var plan = PrecisionRewriter.Apply(graph, new PrecisionPlan { Precision = DataType.BFloat16 });
        plan.Nodes.Any(n => n.Op is Cast { To: DataType.Float32 }).Should().BeTrue("islands are entered through explicit Casts");
        plan.Initializers.Where(i => i.Value.Name.EndsWith(".weight.T", StringComparison.Ordinal))
            .Should().OnlyContain(i => i.Value.DType == DataType.BFloat16);
        using var ev = new TorchEvaluator(plan, new CheckpointWeights(fixture.Checkpoint, fixture.Architecture.Adapter));
        var got = ev.Run(c.Inputs);
        foreach (var (name, want) in c.Outputs)
        {
            var r = TensorComparator.Compare(name, got[name], want, Tolerance.Bf16);
            log.WriteLine($"bf16 plan {name}: max abs {r.MaxAbs:G3}, cosine {r.Cosine:F5}");
            r.Passed.Should().BeTrue($"{name}: {r.Failure}");
        }
    }

    [Fact]
    public void Islands_matter_layernorm_statistics_in_fp16_overflow_and_are_caught_on_the_TorchSharp_path()
    {
        // Residual-stream activations of a few hundred (as in late ViT blocks): (x - mean)^2 exceeds fp16's 65504.
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "ln.weight", 16);
        PassCheck.AddWeight(w, "ln.bias", 16);
        PassCheck.AddWeight(w, "fc.weight", 16, 16);
        Graph Build()
        {
            var b = new GraphBuilder("ln");
            var x = b.Input("x", Dim.Sym("B"), 4, 16);
            var n = b.LayerNorm(b.Mul(x, 600f), b.Weight("ln.weight", 16), b.Weight("ln.bias", 16), 1e-6);
            b.Output("y", b.MatMul(n, b.Weight("fc.weight", 16, 16)));
            return b.Graph;
        }
        var inputs = new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(9, 1, 2, 4, 16) };
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        HostTensor reference;
        using (var ev = new TorchEvaluator(Build(), w)) reference = ev.Run(inputs)["y"];

        ComparisonResult[] Check(PrecisionPlan plan)
        {
            var g = PrecisionRewriter.Apply(Build(), plan);
            using var tmp = new TempDir();
            using var ort = new OrtRunner(OnnxExporter.Export(g, w, tmp.File("m.onnx"), new OnnxExportOptions(17)).ModelPath);
            using var torch = new TorchEvaluator(g, w);
            return [TensorComparator.Compare("ort", ort.Run(inputs)["y"], reference, Tolerance.Fp16),
                TensorComparator.Compare("torch", torch.Run(inputs)["y"], reference, Tolerance.Fp16)];
        }
        var withIsland = Check(new PrecisionPlan { Precision = DataType.Float16 });
        withIsland.Should().OnlyContain(c => c.Passed, "the default plan keeps LayerNorm statistics in fp32");
        var noIsland = Check(new PrecisionPlan { Precision = DataType.Float16, Fp32Ops = ["Softmax", "ScaledDotProductAttention"] });
        foreach (var c in noIsland) log.WriteLine($"{c.Name}: {c.Failure}");
        noIsland[1].Passed.Should().BeFalse("on TorchSharp the fp16 statistics overflow and the parity comparison catches it");
        noIsland[0].Passed.Should().BeTrue(
            "ONNX Runtime CPU has no x86 fp16 kernels for Sub/Mul/ReduceMean and computes them in f32 behind inserted Casts, so it " +
                "cannot show fp16 overflow");
    }
}
