using ModelForge.Graphs.Ir;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelForge.Validators.Torch;

/// <summary>
/// Conversions between ModelForge's host-side types and TorchSharp: <see cref="DataType"/> &lt;-&gt;
/// <see cref="ScalarType"/>, and <see cref="HostTensor"/> &lt;-&gt; <see cref="Tensor"/>.
/// Callers own the tensors returned here (they join the caller's dispose scope, if any).
/// </summary>
public static class TorchTensors
{
    /// <summary>The TorchSharp element type of a ModelForge element type (every <see cref="DataType"/> has one).</summary>
    public static ScalarType ToScalarType(this DataType t) => t switch
    {
        DataType.Float32 => ScalarType.Float32,
        DataType.Float16 => ScalarType.Float16,
        DataType.BFloat16 => ScalarType.BFloat16,
        DataType.Float64 => ScalarType.Float64,
        DataType.Int64 => ScalarType.Int64,
        DataType.Int32 => ScalarType.Int32,
        DataType.Int16 => ScalarType.Int16,
        DataType.Int8 => ScalarType.Int8,
        DataType.UInt8 => ScalarType.Byte,
        DataType.Bool => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>The ModelForge element type of a TorchSharp one; throws for types the IR has no name for (complex, ...).</summary>
    public static DataType ToDataType(this ScalarType t) => t switch
    {
        ScalarType.Float32 => DataType.Float32,
        ScalarType.Float16 => DataType.Float16,
        ScalarType.BFloat16 => DataType.BFloat16,
        ScalarType.Float64 => DataType.Float64,
        ScalarType.Int64 => DataType.Int64,
        ScalarType.Int32 => DataType.Int32,
        ScalarType.Int16 => DataType.Int16,
        ScalarType.Int8 => DataType.Int8,
        ScalarType.Byte => DataType.UInt8,
        ScalarType.Bool => DataType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no ModelForge DataType for this TorchSharp type"),
    };

    /// <summary>
    /// A host tensor as a torch tensor of element type <paramref name="dtype"/> on <paramref name="device"/>.
    /// Float data (<see cref="HostTensor.Floats"/>) is created as f32 and converted; integer data as i64 and converted.
    /// The host array is copied, so the caller may reuse it.
    /// </summary>
    public static Tensor ToTorch(HostTensor host, ScalarType dtype, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        Tensor t = host.Floats is { } f ? FromFloats(f, host.Shape) : FromLongs(host.Longs!, host.Shape);
        return Convert(t, dtype, device);
    }

    /// <summary>Row-major f32 data of the given shape (rank 0 allowed) as a torch tensor, converted to <paramref name="dtype"/>.</summary>
    public static Tensor FromFloat32(float[] data, long[] shape, ScalarType dtype, Device? device = null) =>
        Convert(FromFloats(data, shape), dtype, device);

    /// <summary>Row-major i64 data of the given shape (rank 0 allowed) as a torch tensor, converted to <paramref name="dtype"/>.</summary>
    public static Tensor FromInt64(long[] data, long[] shape, ScalarType dtype, Device? device = null) =>
        Convert(FromLongs(data, shape), dtype, device);

    /// <summary>
    /// A torch tensor back on the host: floating types as f32 data (with <see cref="HostTensor.DType"/> naming the
    /// tensor's own type, e.g. bf16), integer and bool types as i64 data. Works for any device and memory layout.
    /// </summary>
    public static HostTensor ToHost(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        long[] shape = t.shape;
        var dtype = t.dtype.ToDataType();
        // Temporaries (converted / moved / contiguous copies) belong to this scope and are disposed on return. No
        // `using` on them: a conversion that has nothing to do may hand back `t` itself, which stays the caller's.
        using var scope = NewDisposeScope();
        if (dtype.IsFloat())
            return new HostTensor(shape, t.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray(), dtype);
        return new HostTensor(shape, t.to(ScalarType.Int64).cpu().contiguous().data<long>().ToArray());
    }

    private static Tensor FromFloats(float[] data, long[] shape) =>
        shape.Length == 0 ? tensor(data[0]) : tensor(data, shape);

    private static Tensor FromLongs(long[] data, long[] shape) =>
        shape.Length == 0 ? tensor(data[0]) : tensor(data, shape);

    // Converts dtype and device in one step; the f32/i64 staging tensor is dropped when a new one was made.
    private static Tensor Convert(Tensor t, ScalarType dtype, Device? device)
    {
        if (t.dtype == dtype && (device is null || device.type == DeviceType.CPU)) return t;
        var converted = device is null ? t.to(dtype) : t.to(dtype, device);
        if (!ReferenceEquals(converted, t)) t.Dispose();
        return converted;
    }
}
