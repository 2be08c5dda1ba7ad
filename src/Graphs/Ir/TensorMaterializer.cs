using System.Runtime.InteropServices;

namespace ModelForge.Graphs.Ir;

/// <summary>
/// Turns an initializer's <see cref="TensorData"/> into numbers, one tensor at a time, for back-ends that need
/// the bytes (ONNX writer, TorchSharp evaluator). Nothing is cached: callers stream and drop.
/// </summary>
public sealed class TensorMaterializer(IWeightSource weights)
{
    public IWeightSource Weights { get; } = weights;

    /// <summary>The data as f32, row-major, checked against the initializer's declared element count.</summary>
    public float[] ReadFloat32(Initializer init)
    {
        var data = ReadFloat32(init.Data);
        long expected = init.Value.Shape.ElementCount.Value;
        if (data.Length != expected)
            throw new GraphException(
                $"initializer '{init.Value.Name}' has {data.Length} elements, its shape {init.Value.Shape} needs {expected}");
        return data;
    }

    public float[] ReadFloat32(TensorData data) => data switch
    {
        WeightData w => Weights.ReadFloat32(w.Key),
        LiteralData { Floats: { } f } => f,
        LiteralData { Longs: { } l } => l.Select(v => (float)v).ToArray(),
        DerivedData d => d.Compute(d.Sources.Select(ReadFloat32).ToArray()),
        _ => throw new GraphException($"unsupported tensor data {data.GetType().Name}"),
    };

    /// <summary>
    /// Little-endian bytes of the initializer in its declared dtype. Weights stored in that dtype are passed
    /// through without conversion (memory-mapped); others are converted from f32.
    /// </summary>
    public ReadOnlyMemory<byte> ReadBytes(Initializer init)
    {
        var dtype = init.Value.DType;
        if (init.Data is WeightData w && Weights.Describe(w.Key) is { } stored && stored.DType == dtype)
            return Weights.ReadRaw(w.Key);
        if (init.Data is LiteralData { Longs: { } longs })
        {
            return dtype switch
            {
                DataType.Int64 => MemoryMarshal.AsBytes(longs.AsSpan()).ToArray(),
                DataType.Int32 => MemoryMarshal.AsBytes(longs.Select(v => checked((int)v)).ToArray().AsSpan()).ToArray(),
                _ => Encode(longs.Select(v => (float)v).ToArray(), dtype),
            };
        }
        var floats = ReadFloat32(init);
        // f32 out: hand out the array's own bytes (no second 4-byte-per-element copy of every weight).
        return dtype == DataType.Float32 ? new FloatBytes(floats).Memory : Encode(floats, dtype);
    }

    /// <summary>The bytes of a float[] as memory, without copying.</summary>
    private sealed class FloatBytes(float[] data) : System.Buffers.MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(data.AsSpan());

        public override unsafe System.Buffers.MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = System.Runtime.InteropServices.GCHandle.Alloc(data, System.Runtime.InteropServices.GCHandleType.Pinned);
            return new System.Buffers.MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
        }

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }

    /// <summary>f32 values encoded as the given floating-point dtype (round to nearest even).</summary>
    public static byte[] Encode(float[] values, DataType dtype)
    {
        switch (dtype)
        {
            case DataType.Float32:
                return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            case DataType.Float16:
            case DataType.BFloat16:
                var bits = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++)
                    bits[i] = dtype == DataType.Float16 ? DataTypes.SingleToHalf(values[i]) : DataTypes.SingleToBFloat16(values[i]);
                return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
            case DataType.Float64:
                return MemoryMarshal.AsBytes(values.Select(v => (double)v).ToArray().AsSpan()).ToArray();
            default:
                throw new GraphException($"cannot encode floating-point data as {dtype.ShortName()}");
        }
    }
}
