using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;

namespace ModelForge.Tests.Converters.Targets;

/// <summary>Targets as data: every family exported for TensorRT uses only ops of the parser's list for the chosen version.</summary>
public class TargetTests
{
    /// <summary>
    /// The TensorRT ONNX parser's supported operators we may meet, copied from onnx-tensorrt docs/operators.md (release
    /// 10.1, "Y" rows) — kept here independently of src/Converters/Targets so a widened target list is caught — plus
    /// Attention from the 10.14 GA parser update on. Einsum, Mod, NonZero, contrib ops: never accepted.
    /// </summary>
    private static IReadOnlySet<string> ParserOps(string version)
    {
        var ops = new HashSet<string>
        {
            "Add", "Cast", "Concat", "Conv", "Div", "Erf", "Expand", "Gather", "Gelu", "Identity", "LayerNormalization", "MatMul",
            "Mul", "Neg", "Pad", "ReduceMean", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Sub", "Tanh", "Transpose",
        };
        if (version != "10") ops.Add("Attention");
        return ops;
    }

    public static TheoryData<string, string, string?> Cases()
    {
        var d = new TheoryData<string, string, string?>();
        foreach (var v in new[] { "10", "10.14", "11" })
        {
            d.Add("deepencoder-tiny", v, null);
            d.Add("deepencoder-tiny", v, "gundam");
            d.Add("vary-tiny", v, null);
            d.Add("internvl2-tiny", v, null);
            d.Add("qwen2vl-tiny", v, null);
            d.Add("deepencoder2-tiny", v, null);
            d.Add("qwen25vl-tiny", v, null);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TensorRT_exports_use_only_parser_ops_of_the_version(string fixture, string version, string? mode)
    {
        string dir = Repo.Golden(fixture);
        using var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "fixture.json")));
        var arch = ArchitectureRegistry.Get(cfg.RootElement.GetProperty("architecture").GetString()!);
        var parts = mode is null ? [new ArtifactPart("model", arch.RequestForCase(cfg.RootElement.GetProperty("cases")[0]))]
            : arch.PlanMode(cfg.RootElement, mode);
        var target = ModelForge.Converters.Targets.Targets.TensorRt(version);
        using var tmp = new TempDir();
        var summary = ExportPipeline.Run(new ExportRequest(arch, Path.Combine(dir, "model.safetensors"), cfg.RootElement, parts,
            tmp.File("out"),
            new OnnxExportOptions(), Target: target, Precision: target.Precision.Plan(DataType.Float16)));

        var allowed = ParserOps(version);
        foreach (var p in summary.Parts)
        {
            var m = OnnxModelReader.Read(p.ModelPath);
            m.Opset.Should().Be(version == "10" ? 17 : 23);
            m.OpCounts.Keys.Where(op => !allowed.Contains(op)).Should().BeEmpty($"{fixture} {p.Name} for TensorRT {version}");
            if (version != "10") m.OpCounts.Should().ContainKey("Attention");
            else m.OpCounts.Should().NotContainKey("Attention");
            using var ort = new OrtRunner(p.ModelPath);   // the graph is also valid ONNX that ONNX Runtime loads
        }
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(summary.OutDir, "manifest.json")));
        manifest.RootElement.GetProperty("target").GetString().Should().Be("tensorrt");
        manifest.RootElement.GetProperty("target_profile").GetProperty("tensorrt_version").GetString().Should().Be(version);
        manifest.RootElement.GetProperty("target_profile").GetProperty("strongly_typed").GetBoolean().Should().Be(version == "11");
        manifest.RootElement.GetProperty("precision_plan").GetProperty("precision").GetString().Should().Be("f16");
    }

    [Fact]
    public void The_exporter_refuses_an_op_outside_the_target_and_decomposes_fused_ops_it_lacks()
    {
        var conv = OpSamples.All.Single(s => s.Name == "conv_groups");
        using var tmp = new TempDir();
        var noConv = new OnnxExportOptions(17) { AllowedOps = new HashSet<string> { "Identity" } };
        var act = () => OnnxExporter.Export(conv.Graph, conv.Weights, tmp.File("c.onnx"), noConv);
        act.Should().Throw<NotSupportedException>().WithMessage("*Conv*outside the target's allowed set*");
        File.Exists(tmp.File("c.onnx")).Should().BeFalse();

        var rms = OpSamples.All.First(s => s.Graph.Nodes.Any(n => n.Op is ModelForge.Graphs.Ops.RmsNorm));
        var trt = ModelForge.Converters.Targets.Targets.TensorRt("11");
        var e = OnnxExporter.Export(rms.Graph, rms.Weights, tmp.File("r.onnx"),
            new OnnxExportOptions(trt.Opset) { AllowedOps = trt.AllowedOps });
        OnnxModelReader.Read(e.ModelPath).OpCounts.Should().NotContainKey("RMSNormalization").And.ContainKey("ReduceMean");
        var native = OnnxExporter.Export(rms.Graph, rms.Weights, tmp.File("n.onnx"), new OnnxExportOptions(23));
        OnnxModelReader.Read(native.ModelPath).OpCounts.Should().ContainKey("RMSNormalization");
    }

    [Theory]
    [InlineData("onnx", null, "10", "--trt-version")]
    [InlineData("tensorrt", 17, null, "--opset")]
    [InlineData("tensorrt", null, "9", "--trt-version 9")]
    [InlineData("tpu", null, null, "unknown target")]
    public void Bad_target_options_name_the_option(string name, int? opset, string? trt, string mention)
    {
        var act = () => ModelForge.Converters.Targets.Targets.Get(name, opset, trt);
        act.Should().Throw<GraphException>().WithMessage($"*{mention}*");
    }

    [Fact]
    public void The_onnx_target_chunks_attention_only_where_it_writes_attention_decomposed()
    {
        ModelForge.Converters.Targets.Targets.Onnx(17).Passes.Should().Contain("chunk-attention").And.EndWith("eliminate-dead-code");
        ModelForge.Converters.Targets.Targets.Onnx(22).Passes.Should().Contain("chunk-attention");
        ModelForge.Converters.Targets.Targets.Onnx(23).Passes.Should()
            .NotContain("chunk-attention", "Attention-23 runs without materialized scores in ORT");
        ModelForge.Converters.Targets.Targets.TensorRt("10").Passes.Should()
            .NotContain("chunk-attention", "TensorRT fuses attention itself");
        var onnx17 = ModelForge.Converters.Targets.Targets.Onnx(17);
        onnx17.Describe()["passes"].Should().BeEquivalentTo(onnx17.Passes, "the manifest records the pipeline");
    }
}
