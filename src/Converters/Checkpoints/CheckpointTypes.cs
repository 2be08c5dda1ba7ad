using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>
/// A checkpoint file or folder that cannot be read: the message is one line, "&lt;file&gt;: &lt;defect&gt;",
/// naming the tensor when the defect belongs to one.
/// </summary>
public sealed class CheckpointFormatException : Exception
{
    /// <summary>Creates the exception; the message becomes "<paramref name="filePath"/>: <paramref name="defect"/>".</summary>
    public CheckpointFormatException(string filePath, string defect, Exception? inner = null)
        : base($"{filePath}: {OneLine(defect)}", inner)
    {
        FilePath = filePath;
    }

    /// <summary>The file (or folder) at fault.</summary>
    public string FilePath { get; }

    private static string OneLine(string s) => s.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

/// <summary>Bounds applied while parsing untrusted safetensors headers, checked before anything of that size is allocated.</summary>
/// <param name="MaxHeaderBytes">Largest accepted JSON header (bytes).</param>
/// <param name="MaxTensors">Largest accepted number of tensors in one file.</param>
/// <param name="MaxRank">Largest accepted tensor rank.</param>
/// <param name="MaxJsonDepth">Deepest accepted JSON nesting (the valid layout needs 3).</param>
public sealed record SafetensorsLimits(long MaxHeaderBytes = 100L << 20, int MaxTensors = 1_000_000, int MaxRank = 16,
    int MaxJsonDepth = 64)
{
    /// <summary>The defaults: 100 MiB header, a million tensors, rank 16, JSON depth 64.</summary>
    public static SafetensorsLimits Default { get; } = new();

    internal void Validate()
    {
        if (MaxHeaderBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxHeaderBytes), MaxHeaderBytes, "must be positive");
        if (MaxTensors < 0) throw new ArgumentOutOfRangeException(nameof(MaxTensors), MaxTensors, "must not be negative");
        if (MaxRank < 0) throw new ArgumentOutOfRangeException(nameof(MaxRank), MaxRank, "must not be negative");
        if (MaxJsonDepth <= 0) throw new ArgumentOutOfRangeException(nameof(MaxJsonDepth), MaxJsonDepth, "must be positive");
    }
}

/// <summary>One tensor of a checkpoint, as its header describes it (already validated against the file).</summary>
/// <param name="Name">The tensor's key in the file.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions; empty for a scalar.</param>
/// <param name="ByteLength">Bytes of data (ElementCount times the element size).</param>
public sealed record TensorInfo(string Name, DataType DType, long[] Shape, long ByteLength)
{
    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n = checked(n * d);
            return n;
        }
    }
}

/// <summary>A tensor to write; <see cref="Data"/> is called once, when that tensor's bytes are written, so data can be streamed.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions; empty for a scalar.</param>
/// <param name="Data">Produces the raw little-endian bytes (exactly ElementCount times the element size).</param>
public sealed record WritableTensor(string Name, DataType DType, long[] Shape, Func<ReadOnlyMemory<byte>> Data);
