using FluentAssertions;
using Google.Protobuf;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;

namespace ModelForge.Tests.Converters.Onnx;

/// <summary>
/// Which opset-23 ops the ONNX Runtime package here (1.31.1, CPU) implements natively: one-node models of the
/// standard domain at opset 23 / IR 11, run and checked against a C# reference of the ONNX spec's formula.
/// (Attention-23 is covered with and without a float mask by the op-coverage test.)
/// </summary>
public class Opset23SupportTests
{
    private static string OneNode(TempDir tmp, string op, (string Name, long[] Shape)[] inputs, long[] outShape,
        params AttributeProto[] attrs)
    {
        var g = new GraphProto { Name = op };
        var n = new NodeProto { OpType = op, Name = op };
        n.Input.AddRange(inputs.Select(i => i.Name));
        n.Output.Add("y");
        n.Attribute.AddRange(attrs);
        g.Node.Add(n);
        foreach (var (name, shape) in inputs) g.Input.Add(OnnxTypes.ValueInfo(name, new TensorType(DataType.Float32, Shape.Known(shape))));
        g.Output.Add(OnnxTypes.ValueInfo("y", new TensorType(DataType.Float32, Shape.Known(outShape))));
        var m = new ModelProto { IrVersion = OnnxExporter.IrVersion(23), ProducerName = "test", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 23 });
        string path = tmp.File(op + ".onnx");
        File.WriteAllBytes(path, m.ToByteArray());
        return path;
    }

    private static HostTensor Seq(int seed, params long[] shape)
    {
        var rng = new Random(seed);
        return new HostTensor(shape,
            Enumerable.Range(0, (int)shape.Aggregate(1L, (a, d) => a * d)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray());
    }

    [Fact]
    public void Ir_version_11_goes_with_opset_23() => OnnxExporter.IrVersion(23).Should().Be(11);

    [Fact]
    public void RMSNormalization_23_runs_natively()
    {
        using var tmp = new TempDir();
        var path = OneNode(tmp, "RMSNormalization", [("x", [2, 3, 8]), ("scale", [8])], [2, 3, 8], OnnxTypes.Int("axis", -1),
            OnnxTypes.Float("epsilon", 1e-6f));
        var x = Seq(1, 2, 3, 8);
        var scale = Seq(2, 8);
        using var ort = new OrtRunner(path);
        var y = ort.Run(new Dictionary<string, HostTensor> { ["x"] = x, ["scale"] = scale })["y"];
        for (int row = 0; row < 6; row++)
        {
            var v = x.Data.AsSpan(row * 8, 8).ToArray();
            double rms = Math.Sqrt(v.Average(a => (double)a * a) + 1e-6);
            for (int c = 0; c < 8; c++) y.Data[row * 8 + c].Should().BeApproximately((float)(v[c] / rms * scale.Data[c]), 1e-5f);
        }
    }

    [Fact]
    public void RotaryEmbedding_23_runs_natively_in_the_half_split_form()
    {
        using var tmp = new TempDir();
        // x [B=1, heads=2, S=3, D=4], caches [B, S, D/2] (no position_ids), interleaved = 0.
        var path = OneNode(tmp, "RotaryEmbedding", [("x", [1, 2, 3, 4]), ("cos", [1, 3, 2]), ("sin", [1, 3, 2])], [1, 2, 3, 4]);
        var x = Seq(3, 1, 2, 3, 4);
        var angles = Seq(4, 1, 3, 2).Data;
        var cos = new HostTensor([1, 3, 2], angles.Select(MathF.Cos).ToArray());
        var sin = new HostTensor([1, 3, 2], angles.Select(MathF.Sin).ToArray());
        using var ort = new OrtRunner(path);
        var y = ort.Run(new Dictionary<string, HostTensor> { ["x"] = x, ["cos"] = cos, ["sin"] = sin })["y"];
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 3; s++)
                for (int i = 0; i < 2; i++)
                {
                    int at = (h * 3 + s) * 4;
                    float x1 = x.Data[at + i], x2 = x.Data[at + i + 2], c = cos.Data[s * 2 + i], sn = sin.Data[s * 2 + i];
                    y.Data[at + i].Should().BeApproximately(x1 * c - x2 * sn, 1e-5f);
                    y.Data[at + i + 2].Should().BeApproximately(x1 * sn + x2 * c, 1e-5f);
                }
    }
}
