using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Ops;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Graphs.Passes;

/// <summary>The default pass pipeline on every family's tiny golden fixture, at opset 17 (decomposed) and 23 (Attention-23).</summary>
public class PipelineTests(Xunit.Abstractions.ITestOutputHelper log)
{
    public static TheoryData<string, int> Fixtures() => new()
    {
        { "deepencoder-tiny", 17 }, { "deepencoder-tiny", 23 }, { "vary-tiny", 17 }, { "internvl2-tiny", 23 }, { "qwen2vl-tiny", 17 },
            { "qwen2vl-tiny", 23 },
        { "deepencoder2-tiny", 17 }, { "deepencoder2-tiny", 23 }, { "qwen25vl-tiny", 17 }, { "qwen25vl-tiny", 23 },
    };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Default_pipeline_keeps_outputs_and_golden_parity(string fixtureName, int opset)
    {
        using var fixture = GoldenFixture.Load(Repo.Golden(fixtureName));
        var arch = fixture.Architecture;
        var c = fixture.Cases[0];
        // Case 0 of every fixture is one image: one graph call (Qwen: the family plans it from pixel_values + grid_thw).
        var calls = arch.PlanCalls(fixture.Config, c.Inputs);
        calls.Should().ContainSingle();
        var inputs = calls[0];
        var weights = new CheckpointWeights(fixture.Checkpoint, arch.Adapter);
        var r = PassCheck.Run(() => arch.Build(fixture.Config, arch.RequestForCase(c.Json)), weights, inputs, PassRegistry.Default,
            new Tolerance(1e-4, 1e-4), opset);

        foreach (var line in r.Report.Summary()) log.WriteLine(line);
        r.After.Nodes.Should().NotContain(n => n.Op is Transpose && n.Inputs[0].IsConstant, "every weight transpose is folded");
        r.AfterCount("Softmax").Should().Be(0, "every attention is fused");
        r.AfterCount("ScaledDotProductAttention").Should().Be(r.Before("Softmax"));
        r.After.Nodes.Count.Should().BeLessThan(r.OpsBefore.Values.Sum());

        // The optimized export still matches the ORIGINAL model's golden outputs.
        using var tmp = new TempDir();
        var export = OnnxExporter.Export(r.After, weights, tmp.File("model.onnx"), new OnnxExportOptions(opset));
        // LayerNorm and GELU stay native ONNX ops (LayerNormalization from 17; Gelu from 20, else its erf/tanh formula).
        var ops = OnnxModelReader.Read(export.ModelPath).OpCounts;
        if (r.After.Nodes.Any(n => n.Op is LayerNorm)) ops.Should().ContainKey("LayerNormalization");
        bool rms = r.After.Nodes.Any(n => n.Op is RmsNorm);
        if (!rms || opset >= 23) ops.Should().NotContainKey("ReduceMean", "LayerNorm is native; RMSNorm is RMSNormalization at 23");
        if (rms && opset >= 23) ops.Should().ContainKey("RMSNormalization");
        if (opset >= 20) ops.Should().NotContainKey("Erf").And.NotContainKey("Tanh");
        if (opset >= 23) ops.Should().ContainKey("Attention").And.NotContainKey("Softmax");
        using var ort = new OrtRunner(export.ModelPath);
        var got = arch.CombineCalls(fixture.Config, [ort.Run(inputs)]);
        foreach (var (name, want) in c.Outputs)
        {
            var cmp = TensorComparator.Compare(name, got[name], want, Tolerance.Fp32);
            cmp.Passed.Should().BeTrue($"{fixtureName} {name} vs golden: {cmp.Failure}, max abs {cmp.MaxAbs}");
        }
    }
}
