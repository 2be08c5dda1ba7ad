namespace ModelForge.Graphs.Ir;

/// <summary>
/// Where an initializer's numbers come from. Data is never held in the graph for weights: a <see cref="WeightData"/>
/// names a checkpoint tensor read on demand (memory-mapped) when a back-end needs it, one tensor at a time.
/// </summary>
public abstract record TensorData;

/// <summary>A checkpoint tensor, by the key the builder used (the family's adapter maps it to the file's name).</summary>
public sealed record WeightData(string Key) : TensorData;

/// <summary>Small literal constants (scalars, index tables), row-major. Exactly one array is set.</summary>
public sealed record LiteralData : TensorData
{
    public float[]? Floats { get; init; }

    public long[]? Longs { get; init; }

    public static LiteralData Of(params float[] v) => new() { Floats = v };

    public static LiteralData OfLongs(params long[] v) => new() { Longs = v };
}

/// <summary>
/// A constant computed at export time from other constants (e.g. a position table resized with PyTorch's
/// antialiased bicubic for the exported grid). <paramref name="Compute"/> gets its sources as f32, row-major,
/// and returns f32 row-major data of the initializer's shape.
/// </summary>
public sealed record DerivedData(
    string Description,
    IReadOnlyList<TensorData> Sources,
    Func<IReadOnlyList<float[]>, float[]> Compute) : TensorData
{
    /// <summary>
    /// Set when <see cref="Compute"/> is the 2-D transpose of its one source viewed as [Rows, Cols] (a folded weight
    /// transpose): writers may then stream the result in chunks of output rows instead of materializing it.
    /// </summary>
    public (long Rows, long Cols)? Transposes { get; init; }
}

/// <summary>Read access to checkpoint tensors by the builder's key (implemented over safetensors by the adapter).</summary>
public interface IWeightSource
{
    /// <summary>Stored element type and shape of a key, or null when absent.</summary>
    TensorType? Describe(string key);

    /// <summary>Reads a tensor converted to f32.</summary>
    float[] ReadFloat32(string key);

    /// <summary>
    /// Reads a tensor converted to f32 into <paramref name="destination"/> (exactly its element count): a source that can
    /// stream (a checkpoint) converts chunk by chunk into native memory, with no whole-tensor managed array.
    /// </summary>
    void ReadFloat32(string key, Span<float> destination)
    {
        var data = ReadFloat32(key);
        if (data.Length != destination.Length)
            throw new ArgumentException($"weight '{key}' has {data.Length} elements, the destination holds {destination.Length}",
                nameof(destination));
        data.CopyTo(destination);
    }

    /// <summary>Raw little-endian bytes in the stored dtype (no copy where the source is memory-mapped).</summary>
    ReadOnlyMemory<byte> ReadRaw(string key);
}

/// <summary>A weight source that reads byte ranges of a tensor into a caller's buffer (streaming export, no whole copy).</summary>
public interface IRangeWeightSource : IWeightSource
{
    /// <summary>Raw little-endian bytes of <paramref name="key"/> from byte <paramref name="byteOffset"/> on.</summary>
    void ReadRaw(string key, long byteOffset, Span<byte> destination);
}
