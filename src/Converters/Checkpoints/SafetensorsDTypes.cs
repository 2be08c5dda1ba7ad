using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>safetensors dtype names and the conversion of raw tensor bytes to float32.</summary>
internal static class SafetensorsDTypes
{
    /// <summary>The dtype names ModelForge reads and writes, in the order error messages list them.</summary>
    public const string SupportedList = "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL";

    public static string ToName(DataType t) => t switch
    {
        DataType.Float32 => "F32",
        DataType.Float16 => "F16",
        DataType.BFloat16 => "BF16",
        DataType.Float64 => "F64",
        DataType.Int64 => "I64",
        DataType.Int32 => "I32",
        DataType.Int16 => "I16",
        DataType.Int8 => "I8",
        DataType.UInt8 => "U8",
        DataType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no safetensors name"),
    };

    public static bool TryParse(string name, out DataType type)
    {
        DataType? t = name switch
        {
            "F32" => DataType.Float32,
            "F16" => DataType.Float16,
            "BF16" => DataType.BFloat16,
            "F64" => DataType.Float64,
            "I64" => DataType.Int64,
            "I32" => DataType.Int32,
            "I16" => DataType.Int16,
            "I8" => DataType.Int8,
            "U8" => DataType.UInt8,
            "BOOL" => DataType.Bool,
            _ => null,
        };
        type = t.GetValueOrDefault();
        return t.HasValue;
    }

    /// <summary>
    /// Converts <paramref name="source"/> (raw little-endian elements of <paramref name="type"/>, any alignment) to float32.
    /// <paramref name="destination"/> must hold exactly source.Length / SizeOf(type) elements.
    /// </summary>
    public static void ToFloat32(DataType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (source.Length != destination.Length * type.SizeOf())
            throw new ArgumentException($"{source.Length} bytes of {type.ShortName()} do not make {destination.Length} elements");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors reading needs a little-endian host");
        switch (type)
        {
            case DataType.Float32:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case DataType.BFloat16:
                BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case DataType.Float16:
                {
                    var s = MemoryMarshal.Cast<byte, Half>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = (float)s[i];
                    break;
                }
            case DataType.Float64:
                {
                    var s = MemoryMarshal.Cast<byte, double>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = (float)s[i];
                    break;
                }
            case DataType.Int64:
                {
                    var s = MemoryMarshal.Cast<byte, long>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = s[i];
                    break;
                }
            case DataType.Int32:
                {
                    var s = MemoryMarshal.Cast<byte, int>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = s[i];
                    break;
                }
            case DataType.Int16:
                {
                    var s = MemoryMarshal.Cast<byte, short>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = s[i];
                    break;
                }
            case DataType.Int8:
                {
                    var s = MemoryMarshal.Cast<byte, sbyte>(source);
                    for (int i = 0; i < s.Length; i++) destination[i] = s[i];
                    break;
                }
            case DataType.UInt8:
                for (int i = 0; i < source.Length; i++) destination[i] = source[i];
                break;
            case DataType.Bool:
                for (int i = 0; i < source.Length; i++) destination[i] = source[i] != 0 ? 1f : 0f;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, null);
        }
    }

    /// <summary>bf16 bits -> f32 (bits &lt;&lt; 16), 8 at a time where Vector256 is accelerated.</summary>
    private static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var dst = MemoryMarshal.Cast<float, uint>(destination);
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var v = Vector256.Create(source.Slice(i, Vector256<ushort>.Count));
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ShiftLeft(lo, 16).CopyTo(dst.Slice(i));
                Vector256.ShiftLeft(hi, 16).CopyTo(dst.Slice(i + Vector256<uint>.Count));
            }
        }
        for (; i < source.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
    }

    /// <summary>Reads a little-endian u64 (the safetensors header length).</summary>
    public static ulong ReadHeaderLength(ReadOnlySpan<byte> eight) => BinaryPrimitives.ReadUInt64LittleEndian(eight);
}
