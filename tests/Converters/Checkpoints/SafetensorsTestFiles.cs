using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tests.Converters.Checkpoints;

/// <summary>A temporary folder for checkpoint tests, deleted on dispose.</summary>
public sealed class CheckpointTempDir : IDisposable
{
    public CheckpointTempDir()
    {
        Root = Path.Combine(Path.GetTempPath(), "mf-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string File(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Builders for valid and deliberately broken safetensors files.</summary>
public static class SafetensorsTestFiles
{
    /// <summary>Writes the raw layout: u64 header length (or <paramref name="declaredLength"/>), the header bytes, the data.</summary>
    public static string WriteRaw(string path, byte[] header, byte[] data, ulong? declaredLength = null)
    {
        using var s = System.IO.File.Create(path);
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, declaredLength ?? (ulong)header.Length);
        s.Write(n);
        s.Write(header);
        s.Write(data);
        return path;
    }

    public static string WriteRaw(string path, string headerJson, int dataBytes) =>
        WriteRaw(path, Encoding.UTF8.GetBytes(headerJson), new byte[dataBytes]);

    /// <summary>A writable tensor over fixed bytes.</summary>
    public static WritableTensor Tensor(string name, DataType dtype, long[] shape, byte[] data) => new(name, dtype, shape, () => data);

    public static WritableTensor F32(string name, long[] shape, params float[] values) =>
        Tensor(name, DataType.Float32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public static byte[] Bytes<T>(params T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
