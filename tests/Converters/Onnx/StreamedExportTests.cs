using System.Security.Cryptography;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using Xunit;

namespace ModelForge.Tests.Converters.Onnx;

/// <summary>
/// The streamed external-data writer (chunked reads, conversion and folded transposes written straight into the write
/// buffers, hashed while written) writes exactly the bytes of the whole-tensor reference path
/// (<see cref="TensorMaterializer.ReadBytes"/>), for every checkpoint dtype and precision plan, and the SHA-256 it reports
/// is the file's.
/// </summary>
public class StreamedExportTests
{
    public static TheoryData<string, DataType, DataType> Cases() => new()
    {
        { "deepencoder-tiny-bf16", DataType.Float32, DataType.BFloat16 },
        { "deepencoder-tiny-bf16", DataType.Float16, DataType.BFloat16 },
        { "deepencoder-tiny-bf16", DataType.BFloat16, DataType.BFloat16 },
        { "deepencoder-tiny", DataType.Float32, DataType.Float32 },
        { "deepencoder-tiny", DataType.BFloat16, DataType.Float32 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fixture_export_writes_the_reference_bytes(string fixtureName, DataType precision, DataType stored)
    {
        using var fixture = GoldenFixture.Load(Repo.Golden(fixtureName));
        fixture.Checkpoint.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)).Select(t => t.DType).Distinct()
            .Should().Equal([stored], "the fixture's checkpoint dtype is what this case exercises");
        var arch = fixture.Architecture;
        var graph = arch.Build(fixture.Config, arch.RequestForCase(fixture.Cases[0].Json));
        PassManager.For(PassRegistry.Default).Run(graph);
        graph = PrecisionRewriter.Apply(graph, new PrecisionPlan { Precision = precision, Fp32Ops = PrecisionPlan.DefaultFp32Ops });
        graph.Initializers.Count(i => i.Data is DerivedData { Transposes: not null, Sources: [WeightData] })
            .Should().BeGreaterThan(0, "folded weight transposes take the streamed transpose path");
        var weights = new CheckpointWeights(fixture.Checkpoint, arch.Adapter);
        CheckAgainstReference(graph, weights);
    }

    [Fact]
    public void Odd_shapes_and_every_source_dtype_transpose_and_convert_exactly()
    {
        // Shapes that are not multiples of the 8x8 tiles or the 64-row bands, and one larger than a 4 MiB write buffer.
        (string Key, long Rows, long Cols, DataType DType)[] tensors =
        [
            ("a", 13, 21, DataType.BFloat16), ("b", 70, 9, DataType.Float32), ("c", 9, 67, DataType.Float16),
            ("d", 1100, 1030, DataType.BFloat16), ("e", 1, 5, DataType.Float32),
        ];
        using var tmp = new TempDir();
        string file = tmp.File("w.safetensors");
        var rng = new Random(7);
        SafetensorsWriter.Write(file, tensors.Select(t =>
        {
            var values = Enumerable.Range(0, (int)(t.Rows * t.Cols)).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
            values[0] = float.NaN;
            var bytes = TensorMaterializer.Encode(values, t.DType);
            return new WritableTensor(t.Key, t.DType, [t.Rows, t.Cols], () => bytes);
        }).ToArray());
        using var ckpt = Checkpoint.Open(file);
        var weights = new CheckpointWeights(ckpt, new PlainAdapter());
        foreach (var precision in new[] { DataType.Float32, DataType.Float16, DataType.BFloat16 })
        {
            var b = new GraphBuilder("odd");
            foreach (var t in tensors)
            {
                var x = b.Input("x_" + t.Key, Dim.Of(2), Dim.Of(t.Cols));
                var w = b.Weight(t.Key, t.Rows, t.Cols);
                b.Output("y_" + t.Key, b.MatMul(x, b.Transpose(w, 1, 0)));
                b.Output("z_" + t.Key, b.Add(b.Input("u_" + t.Key, Dim.Of(t.Rows), Dim.Of(t.Cols)), w));
            }
            var graph = b.Graph;
            PassManager.For(["fold-weight-transposes"]).Run(graph);
            graph = PrecisionRewriter.Apply(graph, new PrecisionPlan { Precision = precision, Fp32Ops = PrecisionPlan.DefaultFp32Ops });
            graph.Initializers.Count(i => i.Data is DerivedData { Transposes: not null }).Should().Be(tensors.Length);
            CheckAgainstReference(graph, weights);
        }
    }

    private static void CheckAgainstReference(Graph graph, IWeightSource weights)
    {
        using var tmp = new TempDir();
        var result = OnnxExporter.Export(graph, weights, tmp.File("model.onnx"), new OnnxExportOptions(17, ExternalDataThreshold: 0));
        byte[] data = File.ReadAllBytes(result.ExternalDataPath!);
        result.ExternalDataSha256.Should().Be(Convert.ToHexStringLower(SHA256.HashData(data)));
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(result.ModelPath));
        var materializer = new TensorMaterializer(weights);
        int checkedCount = 0;
        foreach (var t in model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            long offset = long.Parse(t.ExternalData.Single(e => e.Key == "offset").Value, inv);
            int length = int.Parse(t.ExternalData.Single(e => e.Key == "length").Value, inv);
            var init = graph.Initializers.Single(i => i.Value.Name == t.Name);
            var want = materializer.ReadBytes(init).ToArray();
            length.Should().Be(want.Length, t.Name);
            data.AsSpan((int)offset, length).SequenceEqual(want).Should()
                .BeTrue($"{t.Name} ({init.Value.Type}, {init.Data.GetType().Name}) equals the reference bytes");
            checkedCount++;
        }
        checkedCount.Should().BeGreaterThan(0);
    }

    private sealed class PlainAdapter : CheckpointAdapter
    {
        public override string Family => "test";

        public override string ToCheckpointKey(string builderKey) => builderKey;

        public override bool Owns(string checkpointKey) => true;
    }
}
