using CsCheck;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using Xunit;

namespace ModelForge.Tests.Converters.Checkpoints;

public sealed class SafetensorsPropertyTests
{
    private sealed record Spec(string Name, DataType DType, long[] Shape, byte[] Data)
    {
        public override string ToString() => $"{Name}:{DType}[{string.Join(",", Shape)}]";
    }

    private static readonly Gen<Spec> GenTensor =
        from name in Gen.String[Gen.Char["abcxyz._0123456789é+"], 1, 12]
        from dtype in Gen.Enum<DataType>()
        from shape in Gen.Long[0, 4].Array[0, 4]
        from seed in Gen.Int
        select Make(name, dtype, shape, seed);

    private static Spec Make(string name, DataType dtype, long[] shape, int seed)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[count * dtype.SizeOf()];
        new Random(seed).NextBytes(data);
        if (dtype == DataType.Bool)
            for (int i = 0; i < data.Length; i++) data[i] &= 1;
        return new Spec(name, dtype, shape, data);
    }

    private static readonly Gen<(Spec[] Tensors, Dictionary<string, string> Meta)> GenFile =
        from tensors in GenTensor.Array[0, 6]
        from meta in Gen.Dictionary(Gen.String[Gen.Char.AlphaNumeric, 1, 5], Gen.String[0, 8])[0, 3]
        select (tensors.DistinctBy(t => t.Name).ToArray(), meta);

    [Fact]
    public void Random_tensor_sets_round_trip_through_writer_and_reader()
    {
        using var dir = new CheckpointTempDir();
        int n = 0;
        GenFile.Sample(sample =>
        {
            string path = dir.File($"p{Interlocked.Increment(ref n)}.safetensors");
            SafetensorsWriter.Write(path, sample.Tensors.Select(t => new WritableTensor(t.Name, t.DType, t.Shape, () => t.Data)),
                sample.Meta);
            using var f = SafetensorsFile.Open(path);
            f.Tensors.Select(t => t.Name).Should().Equal(sample.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
            f.Metadata.Should().BeEquivalentTo(sample.Meta);
            foreach (var t in sample.Tensors)
            {
                var info = f.Get(t.Name);
                info.DType.Should().Be(t.DType);
                info.Shape.Should().Equal(t.Shape);
                f.GetBytes(t.Name).SequenceEqual(t.Data).Should().BeTrue();
                var floats = f.ReadAsFloat32(t.Name);
                floats.Length.Should().Be((int)info.ElementCount);
            }
            f.Dispose();
            File.Delete(path);
        }, seed: Seed, iter: 300, threads: 1);
        n.Should().Be(300);
    }

    private const string Seed = "0000000000000";
}
