using System.Runtime.InteropServices;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tools;

/// <summary>
/// A deterministic synthetic checkpoint with the key layout and shapes of the released Qwen2-VL-7B-Instruct vision tower
/// (visual.*, bf16 as released, 675,759,104 parameters; the language model is left out). Values come from a per-tensor
/// xorshift stream seeded by the tensor name, so the bytes are the same on every machine: weights uniform with std
/// 0.5/sqrt(fan_in), biases +-0.01, norm weights 1 +- 0.05, norm biases +-0.01. For memory and timing measurements only.
/// </summary>
internal static class SyntheticQwen2VlCheckpoint
{
    /// <summary>The released vision keys and shapes (Qwen2VisionTransformerPretrainedModel of Qwen2-VL-7B).</summary>
    internal static SortedDictionary<string, long[]> TensorShapes()
    {
        const long e = 1280, mlp = 5120, merged = 5120, hidden = 3584;
        var t = new SortedDictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["visual.patch_embed.proj.weight"] = [e, 3, 2, 14, 14],
            ["visual.merger.ln_q.weight"] = [e],
            ["visual.merger.ln_q.bias"] = [e],
            ["visual.merger.mlp.0.weight"] = [merged, merged],
            ["visual.merger.mlp.0.bias"] = [merged],
            ["visual.merger.mlp.2.weight"] = [hidden, merged],
            ["visual.merger.mlp.2.bias"] = [hidden],
        };
        for (int i = 0; i < 32; i++)
        {
            string p = $"visual.blocks.{i}.";
            t[p + "norm1.weight"] = [e];
            t[p + "norm1.bias"] = [e];
            t[p + "norm2.weight"] = [e];
            t[p + "norm2.bias"] = [e];
            t[p + "attn.qkv.weight"] = [3 * e, e];
            t[p + "attn.qkv.bias"] = [3 * e];
            t[p + "attn.proj.weight"] = [e, e];
            t[p + "attn.proj.bias"] = [e];
            t[p + "mlp.fc1.weight"] = [mlp, e];
            t[p + "mlp.fc1.bias"] = [mlp];
            t[p + "mlp.fc2.weight"] = [e, mlp];
            t[p + "mlp.fc2.bias"] = [e];
        }
        return t;
    }

    internal static long ParameterCount(IReadOnlyDictionary<string, long[]> shapes)
        => shapes.Values.Sum(s => s.Aggregate(1L, (a, d) => a * d));

    /// <summary>The f32 values of one tensor (before rounding to bf16).</summary>
    internal static float[] Values(string name, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, d) => a * d);
        bool norm = name.Contains(".norm", StringComparison.Ordinal) || name.Contains("ln_q", StringComparison.Ordinal);
        bool bias = name.EndsWith(".bias", StringComparison.Ordinal);
        float center = norm && !bias ? 1f : 0f;
        float half = norm ? (bias ? 0.01f : 0.05f) : bias ? 0.01f
            : (float)(0.5 / Math.Sqrt(shape.Skip(1).Aggregate(1L, (a, d) => a * d)) * Math.Sqrt(3));
        ulong state = 14695981039346656037UL;                          // FNV-1a of the name seeds the stream
        foreach (char ch in name) state = (state ^ ch) * 1099511628211UL;
        var v = new float[count];
        for (long i = 0; i < count; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            double u = (state >> 11) * (1.0 / (1UL << 53));               // [0, 1)
            v[i] = center + (float)((2 * u - 1) * half);
        }
        return v;
    }

    /// <summary>f32 -> bf16 bits, round to nearest even (values here are finite).</summary>
    internal static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>Writes DIR/model.safetensors (bf16).</summary>
    internal static string Write(string dir)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "model.safetensors");
        var tensors = TensorShapes().Select(kv => new WritableTensor(kv.Key, DataType.BFloat16, kv.Value, () =>
        {
            var values = Values(kv.Key, kv.Value);
            var bf = new ushort[values.Length];
            for (int i = 0; i < values.Length; i++) bf[i] = ToBf16(values[i]);
            return MemoryMarshal.AsBytes(bf.AsSpan()).ToArray();
        }));
        SafetensorsWriter.Write(path, tensors,
            new Dictionary<string, string> { ["format"] = "pt",
            ["synthetic"] = "Qwen2-VL-7B vision tower layout (ModelForge tools/QwenVisionRss)" });
        return path;
    }
}
