using Microsoft.Win32.SafeHandles;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>
/// One .safetensors file, lazy: the header is parsed and validated at <see cref="Open"/>, data read on demand with
/// positional reads (pread). Not memory-mapped on purpose: a mapped file truncated by another program while an export
/// runs raises SIGBUS, which kills the process with no message; a short read instead becomes one
/// <see cref="CheckpointFormatException"/> naming the file. Reads are thread-safe; Dispose must not race with them.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Elements converted per step by the float32 readers (keeps each source span well under 2 GiB).</summary>
    private const int ConvertChunk = 1 << 20;

    private readonly Dictionary<string, TensorEntry> _entries;
    private readonly FileStream? _stream;
    private readonly long _dataStart;
    private bool _disposed;

    private SafetensorsFile(string path, SafetensorsHeader header, FileStream? stream, long dataStart)
    {
        Path = path;
        Metadata = header.Metadata;
        _entries = new Dictionary<string, TensorEntry>(header.Tensors.Count, StringComparer.Ordinal);
        foreach (var t in header.Tensors) _entries.Add(t.Info.Name, t);
        Tensors = header.Tensors.Select(t => t.Info).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        _stream = stream;
        _dataStart = dataStart;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The header's __metadata__ (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors, sorted by name (ordinal).</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>
    /// Opens <paramref name="path"/>, validates its header against <paramref name="limits"/> and the file size, and maps it.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is missing, unreadable or malformed; the message names the defect.</exception>
    public static SafetensorsFile Open(string path, SafetensorsLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        limits ??= SafetensorsLimits.Default;
        limits.Validate();
        string full = System.IO.Path.GetFullPath(path);

        if (IO.SafeFile.Defect(full) is { } defect) throw new CheckpointFormatException(full, defect);
        FileStream stream;
        try
        {
            stream = IO.SafeFile.OpenRead(full, full, FileOptions.RandomAccess);
        }
        catch (IO.InputFileException e)
        {
            throw new CheckpointFormatException(full, IO.SafeFile.Defect(full) ?? e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string why = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : $"cannot open ({e.Message})";
            throw new CheckpointFormatException(full, why, e);
        }

        try
        {
            long length = stream.Length;
            if (length < 8)
                throw new CheckpointFormatException(full, $"file is {length} bytes, shorter than the 8-byte header length (truncated?)");
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            ulong n = SafetensorsDTypes.ReadHeaderLength(prefix);
            // All three checks come before anything of size n is allocated.
            if (n == 0) throw new CheckpointFormatException(full, "header length is 0");
            long maxHeader = Math.Min(limits.MaxHeaderBytes, Array.MaxLength);
            if (n > (ulong)maxHeader)
                throw new CheckpointFormatException(full, $"header length {n} exceeds the limit of {maxHeader} bytes");
            if (n > (ulong)(length - 8))
                throw new CheckpointFormatException(full, $"header length {n} runs past the end of the file ({length} bytes; truncated?)");

            byte[] json = new byte[(int)n];
            stream.ReadExactly(json);
            long dataStart = 8 + (long)n;
            long dataLength = length - dataStart;
            var header = SafetensorsHeader.Parse(full, json, dataLength, limits);
            if (dataLength > 0) return new SafetensorsFile(full, header, stream, dataStart);
            // A file with no tensor data needs no handle.
            stream.Dispose();
            return new SafetensorsFile(full, header, null, dataStart);
        }
        catch (EndOfStreamException)
        {
            stream.Dispose();
            throw new CheckpointFormatException(full, "file shrank while it was being opened");
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message names it and the file.</exception>
    public TensorInfo Get(string name) => Entry(name).Info;

    /// <summary>The tensor's raw little-endian bytes (read into a new buffer).</summary>
    /// <exception cref="NotSupportedException">The tensor is 2 GiB or larger, more than a span can hold.</exception>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var e = Entry(name);
        if (e.Info.ByteLength > int.MaxValue)
            throw new NotSupportedException(
                $"{Path}: tensor '{name}' is {e.Info.ByteLength} bytes, more than one span can hold; read it with ReadAsFloat32");
        return Slice(e.Begin, (int)e.Info.ByteLength);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with the tensor's raw bytes from byte <paramref name="offset"/> of the tensor on,
    /// into a caller's (reused) buffer: how the exporter streams a tensor in chunks without a copy of the whole tensor.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range runs outside the tensor.</exception>
    public void ReadBytes(string name, long offset, Span<byte> destination)
    {
        var e = Entry(name);
        if (offset < 0 || offset + destination.Length > e.Info.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"{Path}: bytes {offset}..{offset + destination.Length} are outside tensor '{name}' ({e.Info.ByteLength} bytes)");
        if (destination.Length > 0) ReadAt(e.Begin + offset, destination);
    }

    /// <summary>Converts the tensor to float32 into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    public void ReadAsFloat32(string name, Span<float> destination)
    {
        var e = Entry(name);
        long count = e.Info.ElementCount;
        if (destination.Length != count)
            throw new ArgumentException($"tensor '{name}' has {count} elements but the destination holds {destination.Length}",
                nameof(destination));
        int size = e.Info.DType.SizeOf();
        // A pooled staging buffer (up to 1 Mi elements, 2-4 MB): a fresh one per tensor would be large-object garbage,
        // hundreds of MB of it across a released checkpoint before a full GC collects it.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Min(ConvertChunk, Math.Max(destination.Length, 1)) * size);
        try
        {
            for (int done = 0; done < destination.Length; done += ConvertChunk)
            {
                int n = Math.Min(ConvertChunk, destination.Length - done);
                var chunk = buffer.AsSpan(0, n * size);
                ReadAt(e.Begin + (long)done * size, chunk);
                SafetensorsDTypes.ToFloat32(e.Info.DType, chunk, destination.Slice(done, n));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Converts the tensor to a new float32 array.</summary>
    public float[] ReadAsFloat32(string name)
    {
        long count = Get(name).ElementCount;
        if (count > Array.MaxLength)
            throw new NotSupportedException($"{Path}: tensor '{name}' has {count} elements, more than one array can hold");
        var result = new float[count];
        ReadAsFloat32(name, result);
        return result;
    }

    /// <summary>Releases the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream?.Dispose();
    }

    private TensorEntry Entry(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");
        return e;
    }

    private ReadOnlySpan<byte> Slice(long offset, int length)
    {
        if (length == 0) return ReadOnlySpan<byte>.Empty;
        var bytes = new byte[length];
        ReadAt(offset, bytes);
        return bytes;
    }

    /// <summary>
    /// Fills <paramref name="destination"/> from data offset <paramref name="offset"/>; a short read means the file shrank.
    /// </summary>
    private void ReadAt(long offset, Span<byte> destination)
    {
        SafeFileHandle handle = _stream!.SafeFileHandle;
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(handle, destination[done..], _dataStart + offset + done);
            if (n == 0)
                throw new CheckpointFormatException(Path, $"file shrank while it was read (now {RandomAccess.GetLength(handle):N0} bytes; "
                    + "was it truncated or replaced by another program?)");
            done += n;
        }
    }
}
