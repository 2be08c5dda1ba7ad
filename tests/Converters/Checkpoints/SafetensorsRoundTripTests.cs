using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using Xunit;
using static ModelForge.Tests.Converters.Checkpoints.SafetensorsTestFiles;

namespace ModelForge.Tests.Converters.Checkpoints;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly CheckpointTempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>0x7FC00000: the positive quiet NaN that f16 0x7E00 and bf16 0x7FC0 widen to (float.NaN is 0xFFC00000).</summary>
    private static readonly float QuietNaN = BitConverter.Int32BitsToSingle(0x7FC00000);

    /// <summary>Per dtype: raw bytes of 6 elements and the float32 values they must read as.</summary>
    public static TheoryData<DataType, byte[], float[]> EveryDType() => new()
    {
        { DataType.Float32, Bytes(1f, -2.5f, 65504f, float.NaN, float.NegativeInfinity, 1e-40f),
            [1f, -2.5f, 65504f, float.NaN, float.NegativeInfinity, 1e-40f] },
        // f16 bits: 1.0 = 0x3C00, -2.5 = 0xC100, 65504 (max) = 0x7BFF, NaN = 0x7E00, -inf = 0xFC00, 2^-24 (min subnormal) = 0x0001
        { DataType.Float16, Bytes<ushort>(0x3C00, 0xC100, 0x7BFF, 0x7E00, 0xFC00, 0x0001),
            [1f, -2.5f, 65504f, QuietNaN, float.NegativeInfinity, MathF.Pow(2, -24)] },
        // bf16 bits: 1.0 = 0x3F80, -2.5 = 0xC020, 65280 = 0x477F (65504 is not representable), NaN = 0x7FC0, -inf = 0xFF80, -0 = 0x8000
        { DataType.BFloat16, Bytes<ushort>(0x3F80, 0xC020, 0x477F, 0x7FC0, 0xFF80, 0x8000),
            [1f, -2.5f, 65280f, QuietNaN, float.NegativeInfinity, -0f] },
        { DataType.Float64, Bytes(1d, -2.5d, 65504d, double.NaN, 1e300, 0.1),
            [1f, -2.5f, 65504f, float.NaN, float.PositiveInfinity, 0.1f] },
        { DataType.Int64, Bytes(1L, -2L, 65504L, long.MinValue, 0L, 7L), [1f, -2f, 65504f, -9.223372E+18f, 0f, 7f] },
        { DataType.Int32, Bytes(1, -2, 65504, int.MaxValue, 0, 7), [1f, -2f, 65504f, 2.147483648E+9f, 0f, 7f] },
        { DataType.Int16, Bytes<short>(1, -2, 32767, -32768, 0, 7), [1f, -2f, 32767f, -32768f, 0f, 7f] },
        { DataType.Int8, Bytes<sbyte>(1, -2, 127, -128, 0, 7), [1f, -2f, 127f, -128f, 0f, 7f] },
        { DataType.UInt8, Bytes<byte>(1, 2, 255, 128, 0, 7), [1f, 2f, 255f, 128f, 0f, 7f] },
        { DataType.Bool, Bytes<byte>(1, 0, 1, 1, 0, 0), [1f, 0f, 1f, 1f, 0f, 0f] },
    };

    [Theory]
    [MemberData(nameof(EveryDType))]
    public void Every_dtype_round_trips_bytes_and_converts_to_float32(DataType dtype, byte[] data, float[] expected)
    {
        string path = _dir.File("t.safetensors");
        SafetensorsWriter.Write(path, [Tensor("w", dtype, [2, 3], data)]);

        using var f = SafetensorsFile.Open(path);
        f.Tensors.Should().ContainSingle();
        var info = f.Get("w");
        info.DType.Should().Be(dtype);
        info.Shape.Should().Equal(2, 3);
        info.ElementCount.Should().Be(6);
        info.ByteLength.Should().Be(data.Length);
        f.GetBytes("w").ToArray().Should().Equal(data);
        float[] actual = f.ReadAsFloat32("w");
        for (int i = 0; i < expected.Length; i++)
            BitConverter.SingleToInt32Bits(actual[i]).Should().Be(BitConverter.SingleToInt32Bits(expected[i]),
                $"element {i} should read as {expected[i]} but was {actual[i]}");
    }

    [Fact]
    public void Bf16_vector_path_matches_the_scalar_definition_on_long_tensors()
    {
        var bits = new ushort[1000];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)(i * 65 + 3);
        string path = _dir.File("bf16.safetensors");
        SafetensorsWriter.Write(path, [Tensor("x", DataType.BFloat16, [bits.Length], Bytes(bits))]);
        using var f = SafetensorsFile.Open(path);
        var dst = new float[bits.Length];
        f.ReadAsFloat32("x", dst);
        for (int i = 0; i < bits.Length; i++)
            BitConverter.SingleToUInt32Bits(dst[i]).Should().Be((uint)bits[i] << 16);
    }

    [Fact]
    public void Writer_is_deterministic_sorted_and_padded()
    {
        WritableTensor[] tensors =
        [
            F32("b", [2], 1, 2),
            Tensor("a", DataType.Int8, [3], Bytes<sbyte>(1, 2, 3)),
            Tensor("c", DataType.Float16, [], Bytes<ushort>(0x3C00)),
        ];
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["author"] = "x+y <z>" };
        string p1 = _dir.File("one.safetensors"), p2 = _dir.File("two.safetensors");
        SafetensorsWriter.Write(p1, tensors, meta);
        SafetensorsWriter.Write(p2, tensors.Reverse(), meta.Reverse().ToDictionary());
        var bytes = File.ReadAllBytes(p1);
        bytes.Should().Equal(File.ReadAllBytes(p2));
        File.Exists(p1 + ".tmp").Should().BeFalse();

        long n = BitConverter.ToInt64(bytes, 0);
        (n % 8).Should().Be(0);
        string json = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n);
        json.TrimEnd(' ').Should().Be(
            "{\"__metadata__\":{\"author\":\"x+y <z>\",\"format\":\"pt\"}," +
            "\"a\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}," +
            "\"c\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[11,13]}}");

        using var f = SafetensorsFile.Open(p1);
        f.Tensors.Select(t => t.Name).Should().Equal("a", "b", "c");
        f.Metadata.Should().BeEquivalentTo(meta);
        f.ReadAsFloat32("c").Should().Equal(1f);
    }

    [Fact]
    public void Writer_fetches_data_lazily_one_tensor_at_a_time_in_name_order()
    {
        var log = new List<string>();
        WritableTensor T(string name) => new(name, DataType.UInt8, [1], () =>
        {
            log.Add(name);
            return new byte[] { 1 };
        });
        SafetensorsWriter.Write(_dir.File("lazy.safetensors"), [T("z"), T("m"), T("a")]);
        log.Should().Equal("a", "m", "z");
    }

    [Fact]
    public void Writer_refuses_wrong_data_length_and_leaves_nothing_behind()
    {
        string path = _dir.File("bad.safetensors");
        var act = () => SafetensorsWriter.Write(path, [Tensor("w", DataType.Float32, [2], new byte[7])]);
        act.Should().Throw<ArgumentException>().WithMessage("*'w'*7 bytes*");
        File.Exists(path).Should().BeFalse();
        File.Exists(path + ".tmp").Should().BeFalse();
    }

    [Fact]
    public void Writer_refuses_duplicate_names()
    {
        var act = () => SafetensorsWriter.Write(_dir.File("d.safetensors"), [F32("w", [1], 1), F32("w", [1], 2)]);
        act.Should().Throw<ArgumentException>().WithMessage("*'w'*twice*");
    }

    [Fact]
    public void A_file_with_no_tensors_opens()
    {
        string path = _dir.File("empty.safetensors");
        SafetensorsWriter.Write(path, []);
        using (var f = SafetensorsFile.Open(path))
        {
            f.Tensors.Should().BeEmpty();
            f.Metadata.Should().BeEmpty();
        }
        using var c = Checkpoint.Open(path);
        c.Tensors.Should().BeEmpty();
    }

    [Fact]
    public void Empty_tensors_and_scalars_read()
    {
        string path = _dir.File("shapes.safetensors");
        SafetensorsWriter.Write(path, [Tensor("empty", DataType.Float32, [0, 4], []), F32("scalar", [], 3.5f)]);
        using var f = SafetensorsFile.Open(path);
        f.GetBytes("empty").Length.Should().Be(0);
        f.ReadAsFloat32("empty").Should().BeEmpty();
        f.Get("scalar").ElementCount.Should().Be(1);
        f.ReadAsFloat32("scalar").Should().Equal(3.5f);
    }

    [Fact]
    public void Holes_between_tensors_are_accepted()
    {
        string path = WriteRaw(_dir.File("holes.safetensors"),
            """{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[5,6]}}""", 8);
        using var f = SafetensorsFile.Open(path);
        f.Tensors.Select(t => t.Name).Should().Equal("a", "b");
    }

    [Fact]
    public void Missing_tensor_and_wrong_destination_are_reported_clearly()
    {
        string path = _dir.File("one.safetensors");
        SafetensorsWriter.Write(path, [F32("w", [2], 1, 2)]);
        using var f = SafetensorsFile.Open(path);
        f.Contains("w").Should().BeTrue();
        f.Contains("nope").Should().BeFalse();
        f.Invoking(x => x.Get("nope")).Should().Throw<KeyNotFoundException>().WithMessage("*one.safetensors*'nope'*");
        f.Invoking(x => x.ReadAsFloat32("w", new float[3])).Should().Throw<ArgumentException>();
        f.Dispose();
        f.Invoking(x => x.Get("w")).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Checkpoint_opens_a_folder_with_model_safetensors()
    {
        SafetensorsWriter.Write(_dir.File("model.safetensors"), [F32("w", [2], 1, 2)]);
        using var c = Checkpoint.Open(_dir.Root);
        c.ReadAsFloat32("w").Should().Equal(1f, 2f);
        c.FileOf("w").Should().Be(_dir.File("model.safetensors"));
        c.GetBytes("w").Length.Should().Be(8);
        c.Invoking(x => x.Get("v")).Should().Throw<KeyNotFoundException>().WithMessage("*'v'*");
    }

    [Fact]
    public void Checkpoint_refuses_a_missing_path_and_an_empty_folder()
    {
        var missing = () => Checkpoint.Open(_dir.File("nothing-here"));
        missing.Should().Throw<CheckpointFormatException>().WithMessage("*nothing-here*no such*");
        var empty = () => Checkpoint.Open(_dir.Root);
        empty.Should().Throw<CheckpointFormatException>().WithMessage($"*{Path.GetFileName(_dir.Root)}*no model.safetensors*");
        var missingFile = () => SafetensorsFile.Open(_dir.File("gone.safetensors"));
        missingFile.Should().Throw<CheckpointFormatException>().WithMessage("*gone.safetensors: no such file");
    }
}
