using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tests.Support;

/// <summary>
/// Released-size checkpoints without the bytes: each shard is a real safetensors header whose data section is made with
/// <see cref="FileStream.SetLength"/>, so the file has its full length (offsets valid, every tensor readable as zeros) but
/// the file system stores only the header (sparse file). A 5.7B-parameter layout costs a few hundred KB of disk.
/// Shards and model.safetensors.index.json follow the hub's model-0000N-of-0000M naming.
/// </summary>
public static class HeaderOnlyCheckpoint
{
    /// <summary>One tensor of the layout.</summary>
    public sealed record Entry(string Name, long[] Shape, DataType DType = DataType.BFloat16);

    /// <summary>Writes <paramref name="shards"/> sparse shards + index into <paramref name="dir"/>; returns the logical byte
    /// total.</summary>
    public static long Write(string dir, IReadOnlyList<Entry> tensors, int shards = 2)
    {
        Directory.CreateDirectory(dir);
        var sorted = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        long total = sorted.Sum(Bytes);
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        int start = 0;
        for (int s = 0; s < shards; s++)
        {
            // Cut by bytes so the shards are of similar size, as save_pretrained's max_shard_size does.
            int end = s == shards - 1 ? sorted.Length : start;
            long budget = total / shards, used = 0;
            while (end < sorted.Length && s < shards - 1 && (used < budget || end == start)) used += Bytes(sorted[end++]);
            string file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            WriteShard(Path.Combine(dir, file), sorted[start..end]);
            foreach (var t in sorted[start..end]) map[t.Name] = file;
            start = end;
        }
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = total }, weight_map = map }));
        return total;
    }

    /// <summary>
    /// The released layout of a graph: every weight it declares under the adapter's checkpoint name (bf16, as released),
    /// the family's stored-but-unread tensors, and one language-model tensor the encoder must ignore.
    /// </summary>
    public static List<Entry> ReleasedLayout(Graph graph, CheckpointAdapter adapter, string family)
    {
        var list = graph.DeclaredWeights.Select(w => new Entry(adapter.ToCheckpointKey(w.Key), w.Value.ToLongs())).ToList();
        switch (family)
        {
            case "deepencoder":
                list.Add(new("model.vision_model.embeddings.patch_embedding.weight", [1024, 3, 14, 14]));
                list.Add(new("model.layers.0.self_attn.q_proj.weight", [1280, 1280]));
                break;
            case "deepencoder2":
                list.Add(new("model.layers.0.self_attn.q_proj.weight", [1280, 1280]));
                break;
            case "vary":
                list.Add(new("transformer.vision_tower.vision_model.post_layernorm.weight", [1024]));
                list.Add(new("transformer.vision_tower.vision_model.post_layernorm.bias", [1024]));
                list.Add(new("transformer.h.0.attn.c_attn.weight", [12288, 4096]));
                break;
            case "internvl2":
                list.Add(new("language_model.model.embed_tokens.weight", [151655, 896]));
                break;
            case "qwen2vl":
                list.Add(new("model.embed_tokens.weight", [151936, 1536]));
                break;
        }
        return list;
    }

    private static string DTypeName(DataType t) => t switch
    {
        DataType.BFloat16 => "BF16",
        DataType.Float16 => "F16",
        DataType.Float32 => "F32",
        DataType.Int64 => "I64",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not used by released layouts"),
    };

    private static long Bytes(Entry t) => t.Shape.Aggregate(1L, (a, d) => a * d) * t.DType.SizeOf();

    private static void WriteShard(string path, Entry[] tensors)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in tensors)
        {
            long n = Bytes(t);
            header[t.Name] = new { dtype = DTypeName(t.DType), shape = t.Shape, data_offsets = new[] { offset, offset + n } };
            offset += n;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int pad = (8 - json.Length % 8) % 8;
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
        f.Write(len);
        f.Write(json);
        for (int i = 0; i < pad; i++) f.WriteByte((byte)' ');
        f.SetLength(8 + json.Length + pad + offset);   // the data section: a hole, read back as zeros
    }
}
