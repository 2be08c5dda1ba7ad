using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Graphs.Passes;

/// <summary>
/// The default pass pipeline on Qwen2.5-VL: window attention (batched over windows, key-padding bias) and full attention
/// are both fused, and the optimized export still matches the original's outputs on every case (ragged windows, video).
/// </summary>
public class Qwen25VlPipelineTests
{
    [Theory]
    [InlineData(17)]
    [InlineData(23)]
    public void Window_and_full_attention_are_fused_and_every_case_still_matches_the_golden(int opset)
    {
        using var fixture = GoldenFixture.Load(Repo.Golden("qwen25vl-tiny"));
        var arch = fixture.Architecture;
        var weights = new CheckpointWeights(fixture.Checkpoint, arch.Adapter);
        var ragged = fixture.Cases[1];                         // image 1 has windows of 16, 8, 8 and 4 patches
        var r = PassCheck.Run(() => arch.Build(fixture.Config, arch.RequestForCase(ragged.Json)), weights,
            arch.PlanCalls(fixture.Config, ragged.Inputs)[0], PassRegistry.Default, new Tolerance(1e-4, 1e-4), opset);
        r.Before("Softmax").Should().Be(4, "two window blocks and two full blocks");
        r.AfterCount("Softmax").Should().Be(0, "every attention is fused, the masked window ones included");

        using var tmp = new TempDir();
        var export = OnnxExporter.Export(r.After, weights, tmp.File("model.onnx"), new OnnxExportOptions(opset));
        if (opset >= 23) OnnxModelReader.Read(export.ModelPath).OpCounts.Should().ContainKey("Attention");
        using var ort = new OrtRunner(export.ModelPath);
        foreach (var c in fixture.Cases)
        {
            var got = arch.CombineCalls(fixture.Config, arch.PlanCalls(fixture.Config, c.Inputs).Select(i => ort.Run(i)).ToList());
            var cmp = TensorComparator.Compare("image_features", got["image_features"], c.Outputs["image_features"], Tolerance.Fp32);
            cmp.Passed.Should().BeTrue($"{c.Name} opset {opset}: {cmp.Failure}, max abs {cmp.MaxAbs}");
        }
    }
}
