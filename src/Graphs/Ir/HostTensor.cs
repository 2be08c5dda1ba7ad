namespace ModelForge.Graphs.Ir;

/// <summary>
/// A tensor in host memory, as exchanged between readers, runtimes and comparators. Floating-point tensors
/// of any precision are carried as f32 (<see cref="Floats"/>, with <see cref="DType"/> saying what they were);
/// integer tensors as <see cref="Longs"/>.
/// </summary>
public sealed record HostTensor
{
    public HostTensor(long[] shape, float[] data, DataType dtype = DataType.Float32)
    {
        Shape = shape;
        Floats = data;
        DType = dtype;
        Check(data.LongLength);
    }

    public HostTensor(long[] shape, long[] data)
    {
        Shape = shape;
        Longs = data;
        DType = DataType.Int64;
        Check(data.LongLength);
    }

    public long[] Shape { get; }

    public DataType DType { get; }

    public float[]? Floats { get; }

    public long[]? Longs { get; }

    /// <summary>The f32 data; throws for integer tensors.</summary>
    public float[] Data => Floats ?? throw new InvalidOperationException("integer tensor has no float data");

    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    private void Check(long length)
    {
        if (Shape.Any(d => d < 0) || ElementCount != length)
            throw new ArgumentException($"shape [{string.Join(", ", Shape)}] does not match {length} elements");
    }
}
