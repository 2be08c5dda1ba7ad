using FluentAssertions;
using Google.Protobuf;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;

namespace ModelForge.Tests.Converters.Onnx;

/// <summary>The ONNX writer against its own reader and ONNX Runtime: round trips, external data, refusals.</summary>
public class OnnxExporterTests
{
    private static OpSample Sample(string name) => OpSamples.All.Single(s => s.Name == name);

    [Fact]
    public void Reader_round_trips_what_the_writer_wrote()
    {
        var s = Sample("conv_stride_pad_bias");
        using var tmp = new TempDir();
        s.Graph.Metadata["architecture"] = "test";
        var result = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("m.onnx"), new OnnxExportOptions(19));
        var m = OnnxModelReader.Read(result.ModelPath);
        m.Opset.Should().Be(19);
        m.IrVersion.Should().Be(9);
        m.Producer.Should().Be("ModelForge");
        m.Metadata.Should().Contain("architecture", "test");
        m.Inputs.Select(i => i.ToString())
            .Should().Equal(s.Graph.Inputs.Select(i => $"{i.Name}: {i.DType.ShortName()}[{string.Join(", ", i.Shape.Dims)}]"));
        m.Outputs.Select(o => o.Name).Should().Equal(s.Graph.Outputs.Select(o => o.Name));
        m.OpCounts.Should().ContainKey("Conv");
        foreach (var init in s.Graph.Initializers)
        {
            var read = m.Initializers.Single(i => i.Name == init.Value.Name);
            read.DType.Should().Be(init.Value.DType);
            read.Dims.Should().Equal(init.Value.Shape.ToLongs());
            read.Bytes.Should().Be(init.Value.Shape.ElementCount.Value * init.Value.DType.SizeOf());
        }
        result.NodeCount.Should().Be(m.OpCounts.Values.Sum());
    }

    [Fact]
    public void External_data_is_aligned_deterministic_and_runs_like_inline()
    {
        var s = Sample("matmul_weight");
        using var tmp = new TempDir();
        var inline = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("inline.onnx"),
            new OnnxExportOptions(ExternalDataThreshold: long.MaxValue));
        var ext1 = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("external.onnx"), new OnnxExportOptions(ExternalDataThreshold: 0));
        inline.ExternalDataPath.Should().BeNull();
        ext1.ExternalDataPath.Should().NotBeNull();
        var bytes1 = (File.ReadAllBytes(ext1.ModelPath), File.ReadAllBytes(ext1.ExternalDataPath!));
        var ext2 = OnnxExporter.Export(s.Graph, s.Weights, ext1.ModelPath, new OnnxExportOptions(ExternalDataThreshold: 0));
        File.ReadAllBytes(ext2.ModelPath).Should().Equal(bytes1.Item1);
        File.ReadAllBytes(ext2.ExternalDataPath!).Should().Equal(bytes1.Item2);
        OnnxModelReader.Read(ext1.ModelPath).Initializers.Where(i => i.Location is not null)
            .Should().OnlyContain(i => i.Offset % 4096 == 0).And.NotBeEmpty();

        var inputs = s.Inputs(2);
        using var a = new OrtRunner(inline.ModelPath);
        using var b = new OrtRunner(ext1.ModelPath);
        a.Run(inputs)["y"].Data.Should().Equal(b.Run(inputs)["y"].Data);
    }

    [Fact]
    public void Opset_out_of_range_is_refused_before_writing()
    {
        var s = Sample("layernorm");
        using var tmp = new TempDir();
        OnnxExporter.Unsupported(s.Graph, new OnnxExportOptions(16)).Should().ContainSingle().Which.Should().Contain("opset 16");
        var act = () => OnnxExporter.Export(s.Graph, s.Weights, tmp.File("m.onnx"), new OnnxExportOptions(24));
        act.Should().Throw<NotSupportedException>().WithMessage("*opset 24*");
        File.Exists(tmp.File("m.onnx")).Should().BeFalse();
    }

    [Fact]
    public void Corrupt_or_escaping_models_are_refused_naming_the_file()
    {
        var s = Sample("matmul_weight");
        using var tmp = new TempDir();
        var ok = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("m.onnx"), new OnnxExportOptions(ExternalDataThreshold: 0));
        var bytes = File.ReadAllBytes(ok.ModelPath);
        File.WriteAllBytes(tmp.File("cut.onnx"), bytes[..(bytes.Length / 3)]);
        var cut = () => OnnxModelReader.Read(tmp.File("cut.onnx"));
        cut.Should().Throw<OnnxFormatException>().WithMessage("*cut.onnx*");

        var model = OnnxModelEditor.Read(ok.ModelPath);
        model.Graph.Initializer.First(i => i.DataLocation == TensorProto.Types.DataLocation.External)
            .ExternalData.Single(e => e.Key == "location").Value = "../../etc/passwd";
        File.WriteAllBytes(tmp.File("escape.onnx"), model.ToByteArray());
        var escape = () => OnnxModelReader.Read(tmp.File("escape.onnx"));
        escape.Should().Throw<OnnxFormatException>().WithMessage("*escape.onnx*leaves the model's folder*");

        File.Delete(ok.ExternalDataPath!);
        var missing = () => OnnxModelReader.Read(ok.ModelPath);
        missing.Should().Throw<OnnxFormatException>().WithMessage("*missing*");
    }

    [Fact]
    public void Symbolic_shapes_resolve_at_run_time_for_any_batch()
    {
        var s = Sample("expand_symbolic");
        using var tmp = new TempDir();
        var r = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("m.onnx"));
        OnnxModelReader.Read(r.ModelPath).OpCounts.Should().ContainKey("Shape", "the Expand target reads B from the input at run time");
        using var ort = new OrtRunner(r.ModelPath);
        foreach (int batch in new[] { 1, 4, 9 }) ort.Run(s.Inputs(batch))["y"].Shape.Should().Equal(batch, 1, 5);
    }

    [Fact]
    public void Runner_checks_input_shapes_before_onnx_runtime()
    {
        var s = Sample("matmul_weight");
        using var tmp = new TempDir();
        var r = OnnxExporter.Export(s.Graph, s.Weights, tmp.File("m.onnx"));
        using var ort = new OrtRunner(r.ModelPath);
        var act = () => ort.Run(new Dictionary<string, HostTensor> { ["x"] = new([1, 3, 5], new float[15]) });
        act.Should().Throw<ArgumentException>().WithMessage("*input 'x' has shape [1, 3, 5]*expects [B, 3, 6]*");
    }
}
