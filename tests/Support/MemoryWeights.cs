using System.Runtime.InteropServices;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tests.Support;

/// <summary>Checkpoint tensors held in memory, stored in a chosen dtype (values rounded to it, as a file would hold them).</summary>
public sealed class MemoryWeights : IWeightSource
{
    private readonly Dictionary<string, (float[] Data, long[] Shape, DataType DType)> _tensors = [];

    public int RawReads { get; private set; }

    public void Add(string key, float[] data, long[] shape, DataType dtype = DataType.Float32) => _tensors[key] = (data, shape, dtype);

    public TensorType? Describe(string key) =>
        _tensors.TryGetValue(key, out var t) ? new TensorType(t.DType, Shape.Known(t.Shape)) : null;

    public float[] ReadFloat32(string key)
    {
        var t = _tensors[key];
        var bytes = TensorMaterializer.Encode(t.Data, t.DType);
        return t.DType switch
        {
            DataType.Float32 => (float[])t.Data.Clone(),
            DataType.BFloat16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(DataTypes.BFloat16ToSingle).ToArray(),
            DataType.Float16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(DataTypes.HalfToSingle).ToArray(),
            _ => throw new NotSupportedException(t.DType.ToString()),
        };
    }

    public ReadOnlyMemory<byte> ReadRaw(string key)
    {
        RawReads++;
        var t = _tensors[key];
        return TensorMaterializer.Encode(t.Data, t.DType);
    }
}
