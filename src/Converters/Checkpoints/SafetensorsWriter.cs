using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>Writes .safetensors files.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Deterministic: tensors sorted by name, header JSON with no whitespace, padded with spaces to a multiple of 8, offsets
    /// contiguous. Writes to path+".tmp" then renames, so nothing half-written is left at <paramref name="path"/>.
    /// Each tensor's <see cref="WritableTensor.Data"/> is called once, in name order, and its bytes written before the next.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// An empty, reserved or duplicate name, a negative dimension, or data whose length does not match dtype and shape.
    /// </exception>
    public static void Write(string path, IEnumerable<WritableTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var sorted = tensors.ToList();
        sorted.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var lengths = Validate(sorted);
        byte[] header = Header(sorted, lengths, metadata);

        string tmp = path + ".tmp";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                for (int i = 0; i < sorted.Count; i++)
                {
                    var data = sorted[i].Data();
                    if (data.Length != lengths[i])
                        throw new ArgumentException(
                            $"tensor '{sorted[i].Name}': data is {data.Length} bytes, but shape [{string.Join(", ", sorted[i].Shape)}] "
                                + $"of {sorted[i].DType.ShortName()} needs {lengths[i]}",
                            nameof(tensors));
                    stream.Write(data.Span);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static long[] Validate(List<WritableTensor> sorted)
    {
        var lengths = new long[sorted.Count];
        for (int i = 0; i < sorted.Count; i++)
        {
            var t = sorted[i];
            if (string.IsNullOrEmpty(t.Name)) throw new ArgumentException("a tensor has an empty name", nameof(sorted));
            if (t.Name == "__metadata__")
                throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor", nameof(sorted));
            if (i > 0 && sorted[i - 1].Name == t.Name) throw new ArgumentException($"tensor '{t.Name}' is given twice", nameof(sorted));
            _ = SafetensorsDTypes.ToName(t.DType);
            long count = 1;
            foreach (long d in t.Shape)
            {
                if (d < 0)
                    throw new ArgumentException($"tensor '{t.Name}': negative dimension in [{string.Join(", ", t.Shape)}]", nameof(sorted));
                count = checked(count * d);
            }
            lengths[i] = checked(count * t.DType.SizeOf());
        }
        return lengths;
    }

    private static byte[] Header(List<WritableTensor> sorted, long[] lengths, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer,
            new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < sorted.Count; i++)
            {
                w.WriteStartObject(sorted[i].Name);
                w.WriteString("dtype", SafetensorsDTypes.ToName(sorted[i].DType));
                w.WriteStartArray("shape");
                foreach (long d in sorted[i].Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + lengths[i]);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += lengths[i];
            }
            w.WriteEndObject();
        }
        int padded = checked((int)((buffer.Length + 7) / 8 * 8));
        while (buffer.Length < padded) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
