namespace ModelForge.Graphs.Ir;

/// <summary>Element types the IR, the checkpoint readers and the back-ends agree on.</summary>
public enum DataType
{
    Float32,
    Float16,
    BFloat16,
    Float64,
    Int64,
    Int32,
    Int16,
    Int8,
    UInt8,
    Bool,
}

/// <summary>Sizes, names and scalar conversions for <see cref="DataType"/>.</summary>
public static class DataTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DataType t) => t switch
    {
        DataType.Float32 or DataType.Int32 => 4,
        DataType.Float16 or DataType.BFloat16 or DataType.Int16 => 2,
        DataType.Float64 or DataType.Int64 => 8,
        DataType.Int8 or DataType.UInt8 or DataType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool IsFloat(this DataType t) =>
        t is DataType.Float32 or DataType.Float16 or DataType.BFloat16 or DataType.Float64;

    /// <summary>Short lower-case name used on the command line and in reports (f32, f16, bf16, ...).</summary>
    public static string ShortName(this DataType t) => t switch
    {
        DataType.Float32 => "f32",
        DataType.Float16 => "f16",
        DataType.BFloat16 => "bf16",
        DataType.Float64 => "f64",
        DataType.Int64 => "i64",
        DataType.Int32 => "i32",
        DataType.Int16 => "i16",
        DataType.Int8 => "i8",
        DataType.UInt8 => "u8",
        DataType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>bfloat16 bits -> float32 (exact: bf16 is the upper half of an f32).</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>float32 -> bfloat16 bits with round-to-nearest-even, NaN kept quiet (as PyTorch's .to(bfloat16)).</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((u >> 16) | 0x40);
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    public static float HalfToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    public static ushort SingleToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);
}
