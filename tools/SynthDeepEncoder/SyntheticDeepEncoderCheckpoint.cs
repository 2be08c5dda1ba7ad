using System.Globalization;
using System.IO.Compression;
using System.IO.Hashing;
using System.Numerics;
using System.Text;

namespace ModelForge.Tools;

/// <summary>
/// Bit-exact C# port of /work/shared/tools/synth_deepencoder_full.py: a full-size DeepSeek-OCR DeepEncoder
/// checkpoint (bf16) with deterministic pseudo-random weights, plus a 1200x1800 test PNG.
/// Everything that decides a byte (LCG, key order, block seeds, offsets, float rounding) mirrors the Python
/// step by step, so the single-file output has the same md5 as the Python's on any machine.
/// Files are streamed tensor by tensor (at most a dozen 2 MiB blocks are held), written to a temp file and renamed.
/// </summary>
public static class SyntheticDeepEncoderCheckpoint
{
    /// <summary>md5 of OUT/model.safetensors as written by the Python script with --single (and by WriteSingle).</summary>
    public const string SingleFileMd5 = "0f26f0c489bc9c412dc00acb49197b82";

    /// <summary>Values per pseudo-random block (Python BLOCK = 1 &lt;&lt; 20).</summary>
    public const int BlockElements = 1 << 20;

    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    public const string PngFileName = "page_1200x1800.png";
    public static readonly string[] ShardFileNames = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

    /// <summary>The prefixes whose parameters the script reports as "vision params".</summary>
    public static readonly string[] VisionPrefixes = ["model.sam_model", "model.vision_model", "model.projector"];

    private const int BlockBytes = 2 * BlockElements;

    /// <summary>
    /// Name -> shape in the Python's insertion order. With single: false the three language-model tensors
    /// (two of them 129280x1280) are added, as the sharded variant writes them.
    /// </summary>
    public static IReadOnlyDictionary<string, long[]> TensorShapes(bool single)
    {
        var t = new OrderedDictionary<string, long[]>(StringComparer.Ordinal);
        void Add(string k, params long[] s) => t.Add(k, s);
        const string S = "model.sam_model.";
        Add(S + "patch_embed.proj.weight", 768, 3, 16, 16); Add(S + "patch_embed.proj.bias", 768); Add(S + "pos_embed", 1, 64, 64, 768);
        for (var b = 0; b < 12; b++)
        {
            var p = $"{S}blocks.{b}.";
            foreach (var n in new[] { "norm1", "norm2" }) { Add(p + n + ".weight", 768); Add(p + n + ".bias", 768); }
            Add(p + "attn.qkv.weight", 2304, 768); Add(p + "attn.qkv.bias", 2304); Add(p + "attn.proj.weight", 768, 768);
            Add(p + "attn.proj.bias", 768);
            long r = b is 2 or 5 or 8 or 11 ? 127 : 27; // global-attention blocks have the 64x64 relative-position tables
            Add(p + "attn.rel_pos_h", r, 64); Add(p + "attn.rel_pos_w", r, 64);
            Add(p + "mlp.lin1.weight", 3072, 768); Add(p + "mlp.lin1.bias", 3072); Add(p + "mlp.lin2.weight", 768, 3072);
            Add(p + "mlp.lin2.bias", 768);
        }
        Add(S + "neck.0.weight", 256, 768, 1, 1); Add(S + "neck.1.weight", 256); Add(S + "neck.1.bias", 256);
        Add(S + "neck.2.weight", 256, 256, 3, 3);
        Add(S + "neck.3.weight", 256); Add(S + "neck.3.bias", 256); Add(S + "net_2.weight", 512, 256, 3, 3);
        Add(S + "net_3.weight", 1024, 512, 3, 3);
        const string V = "model.vision_model.";
        Add(V + "embeddings.class_embedding", 1024); Add(V + "embeddings.patch_embedding.weight", 1024, 3, 14, 14);
        Add(V + "embeddings.position_embedding.weight", 257, 1024);
        Add(V + "pre_layrnorm.weight", 1024); Add(V + "pre_layrnorm.bias", 1024);
        for (var l = 0; l < 24; l++)
        {
            var p = $"{V}transformer.layers.{l}.";
            foreach (var n in new[] { "layer_norm1", "layer_norm2" }) { Add(p + n + ".weight", 1024); Add(p + n + ".bias", 1024); }
            Add(p + "self_attn.qkv_proj.weight", 3072, 1024); Add(p + "self_attn.qkv_proj.bias", 3072);
            Add(p + "self_attn.out_proj.weight", 1024, 1024); Add(p + "self_attn.out_proj.bias", 1024);
            Add(p + "mlp.fc1.weight", 4096, 1024); Add(p + "mlp.fc1.bias", 4096); Add(p + "mlp.fc2.weight", 1024, 4096);
            Add(p + "mlp.fc2.bias", 1024);
        }
        Add("model.projector.layers.weight", 1280, 2048); Add("model.projector.layers.bias", 1280);
        Add("model.image_newline", 1280); Add("model.view_seperator", 1280); // sic: the real checkpoint's spelling
        if (!single)
        {
            Add("model.embed_tokens.weight", 129280, 1280); Add("model.layers.0.self_attn.q_proj.weight", 1280, 1280);
            Add("lm_head.weight", 129280, 1280);
        }
        return t;
    }

    public static long Numel(IEnumerable<long> shape) => shape.Aggregate(1L, (a, d) => a * d);

    public static long VisionParameterCount(IReadOnlyDictionary<string, long[]> shapes) =>
        shapes.Where(kv => VisionPrefixes.Any(p => kv.Key.StartsWith(p, StringComparison.Ordinal))).Sum(kv => Numel(kv.Value));

    /// <summary>OUT/model.safetensors with the vision tensors only (md5 <see cref="SingleFileMd5"/>).</summary>
    public static void WriteSingle(string outDir)
    {
        Directory.CreateDirectory(outDir);
        var shapes = TensorShapes(single: true);
        WriteSafetensors(Path.Combine(outDir, SingleFileName), SortedNames(shapes), shapes, new BlockCache());
    }

    /// <summary>OUT/model-0000{1,2}-of-00002.safetensors, the index json and the 1200x1800 PNG.</summary>
    public static void WriteSharded(string outDir)
    {
        Directory.CreateDirectory(outDir);
        var shapes = TensorShapes(single: false);
        var names = SortedNames(shapes);
        var half = names.Count / 2;
        var shards = new[] { names.Take(half).ToList(), names.Skip(half).ToList() };
        // One cache for both shards: in the Python `blocks` is global, so the second shard's seeds depend on the first.
        var cache = new BlockCache();
        long total = 0;
        var weightMap = new List<(string Key, string File)>();
        for (var i = 0; i < shards.Length; i++)
        {
            total += WriteSafetensors(Path.Combine(outDir, ShardFileNames[i]), shards[i], shapes, cache);
            weightMap.AddRange(shards[i].Select(k => (k, ShardFileNames[i])));
        }
        WriteAtomically(Path.Combine(outDir, IndexFileName), s => s.Write(Encoding.UTF8.GetBytes(IndexJson(total, weightMap))));
        WritePng(Path.Combine(outDir, PngFileName), 1200, 1800);
    }

    // Python's sorted() on str compares code points; the names are ASCII, so ordinal order is the same.
    private static List<string> SortedNames(IReadOnlyDictionary<string, long[]> shapes) =>
        shapes.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();

    /// <summary>One safetensors file; returns the data size (the Python write()'s return value, summed into total_size).</summary>
    private static long WriteSafetensors(string path, IReadOnlyList<string> keys, IReadOnlyDictionary<string, long[]> shapes,
        BlockCache cache)
    {
        var header = HeaderJson(keys, shapes, out var dataBytes);
        WriteAtomically(path, f =>
        {
            Span<byte> len = stackalloc byte[8];
            BitConverter.TryWriteBytes(len, (ulong)header.Length);
            if (!BitConverter.IsLittleEndian) len.Reverse();
            f.Write(len);
            f.Write(header);
            foreach (var k in keys) WriteTensor(f, k, shapes[k], cache);
        });
        return dataBytes;
    }

    /// <summary>json.dumps(hdr, separators=(',', ':')) padded with spaces to a multiple of 8.</summary>
    private static byte[] HeaderJson(IReadOnlyList<string> keys, IReadOnlyDictionary<string, long[]> shapes, out long dataBytes)
    {
        var sb = new StringBuilder("{");
        long off = 0;
        foreach (var k in keys)
        {
            // json.dumps would escape quotes, backslashes, control and non-ASCII characters; none occur in the names.
            if (k.Any(c => c is '"' or '\\' || c < 0x20 || c > 0x7e)) throw new InvalidOperationException($"name needs JSON escaping: {k}");
            var n = Numel(shapes[k]) * 2;
            if (sb.Length > 1) sb.Append(',');
            sb.Append('"').Append(k).Append("\":{\"dtype\":\"BF16\",\"shape\":[")
              .AppendJoin(',', shapes[k].Select(d => d.ToString(CultureInfo.InvariantCulture)))
              .Append("],\"data_offsets\":[").Append(off.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append((off + n).ToString(CultureInfo.InvariantCulture)).Append("]}");
            off += n;
        }
        sb.Append('}');
        while (sb.Length % 8 != 0) sb.Append(' ');
        dataBytes = off;
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    /// <summary>Python data() + the huge-tensor fallback of write().</summary>
    private static void WriteTensor(Stream f, string key, long[] shape, BlockCache cache)
    {
        // data() builds the block for this tensor's kind even when it then gives up on a huge tensor:
        // that insertion shifts the seeds of later kinds, so it must happen here too.
        var b = cache.Get(Kind(key, shape));
        long n = Numel(shape) * 2;
        long off = Crc32.HashToUInt32(Encoding.UTF8.GetBytes(key)) % BlockElements * 2;
        long reps = (off + n) / BlockBytes + 1;
        if (reps >= 64)
        {
            // Huge LM tensors: the (0.02, 0.0) block (seed 1 unless that kind already exists) repeated from offset 0.
            b = cache.GetHuge();
            off = 0;
        }
        // (b * reps)[off:off + n]: the block read cyclically from byte `off`.
        var pos = (int)off;
        while (n > 0)
        {
            var c = (int)Math.Min(n, BlockBytes - pos);
            f.Write(b, pos, c);
            n -= c;
            pos = 0;
        }
    }

    /// <summary>Python kind(): (scale, centre) of the uniform distribution for a tensor.</summary>
    internal static (double Scale, double Centre) Kind(string k, long[] s)
    {
        var last = k[(k.LastIndexOf('.') + 1)..];
        if ((k.Contains("norm", StringComparison.Ordinal) || k.Contains("layrnorm", StringComparison.Ordinal)
             || k.EndsWith("neck.1.weight", StringComparison.Ordinal) || k.EndsWith("neck.3.weight", StringComparison.Ordinal))
                 && last == "weight")
            return (0.17, 1.0);
        if (last == "bias" || s.Length == 1) return (0.05, 0.0);
        if (k.Contains("pos", StringComparison.Ordinal) || k.Contains("embedding", StringComparison.Ordinal)) return (0.2, 0.0);
        long fan = Numel(s.Skip(1));
        // fan ** 0.5 in Python is libm pow(), as Math.Pow is; then Python's correctly rounded round(x, 4).
        return (PyRound(1.7 / Math.Pow(fan, 0.5), 4), 0.0);
    }

    /// <summary>
    /// Python's round(x, ndigits): the exact binary value of x rounded half-even to ndigits decimals, then the
    /// nearest double to that decimal. Math.Round(x, 4) scales by 10^4 in floating point first, which can differ
    /// at near-midpoints, so do it exactly with BigInteger.
    /// </summary>
    internal static double PyRound(double x, int ndigits)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0) return x;
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exp = (int)((bits >> 52) & 0x7ff);
        long mant = bits & ((1L << 52) - 1);
        BigInteger m = exp == 0 ? mant : mant | (1L << 52);
        int e = exp == 0 ? -1074 : exp - 1075; // |x| = m * 2^e
        BigInteger num = m * BigInteger.Pow(10, ndigits), den = BigInteger.One;
        if (e >= 0) num <<= e; else den <<= -e;
        var q = BigInteger.DivRem(num, den, out var r);
        var twice = 2 * r;
        if (twice > den || (twice == den && !q.IsEven)) q += 1;
        var s = (x < 0 ? "-" : "") + q.ToString(CultureInfo.InvariantCulture) + "e-" + ndigits.ToString(CultureInfo.InvariantCulture);
        return double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture); // .NET Core 3.0+ parsing is correctly rounded
    }

    /// <summary>Python block(): 1&lt;&lt;20 bf16 values, little-endian, uniform in centre +- scale from a 31-bit LCG.</summary>
    internal static byte[] Block(double scale, double centre, long seed)
    {
        var s = (uint)(seed & 0xffffffff);
        var v = new byte[BlockBytes];
        for (var i = 0; i < BlockElements; i++)
        {
            // Only the low 31 bits are kept, so wrapping 32-bit arithmetic equals Python's unbounded ints.
            s = (1103515245u * s + 12345u) & 0x7fffffffu;
            // Same double-precision expression as the Python (no FMA contraction in .NET), then
            // struct.pack('<f') = double -> float32 round-to-nearest-even, then bf16 rounding of the float32 bits.
            double x = centre + scale * ((s >> 8) / 4194304.0 - 1.0);
            var h = Bf16((float)x);
            v[2 * i] = (byte)h;
            v[2 * i + 1] = (byte)(h >> 8);
        }
        return v;
    }

    /// <summary>Python bf16(): round to nearest even on the float32 bit pattern (64-bit sum as Python ints never overflow).</summary>
    internal static ushort Bf16(float f)
    {
        ulong u = BitConverter.SingleToUInt32Bits(f);
        return (ushort)(((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff);
    }

    /// <summary>
    /// Python's `blocks` dict. Its insertion order matters: a new kind gets seed len(blocks) * 7919 + 17,
    /// and the huge-tensor block (0.02, 0.0) is inserted (seed 1) via setdefault, counting towards later seeds.
    /// Keyed by the double pair, like the Python tuple (equal doubles, same key).
    /// </summary>
    private sealed class BlockCache
    {
        private readonly Dictionary<(double, double), byte[]> _blocks = new();

        public byte[] Get((double Scale, double Centre) kind)
        {
            if (!_blocks.TryGetValue(kind, out var b))
                _blocks[kind] = b = Block(kind.Scale, kind.Centre, _blocks.Count * 7919L + 17);
            return b;
        }

        public byte[] GetHuge()
        {
            if (!_blocks.TryGetValue((0.02, 0.0), out var b)) _blocks[(0.02, 0.0)] = b = Block(0.02, 0.0, 1);
            return b;
        }
    }

    /// <summary>json.dump(index, f, indent=1): with an indent Python uses separators (',', ': ') and no trailing newline.</summary>
    private static string IndexJson(long totalSize, IReadOnlyList<(string Key, string File)> weightMap)
    {
        var sb = new StringBuilder();
        sb.Append("{\n \"metadata\": {\n  \"total_size\": ").Append(totalSize.ToString(CultureInfo.InvariantCulture))
            .Append("\n },\n \"weight_map\": {");
        for (var i = 0; i < weightMap.Count; i++)
            sb.Append(i == 0 ? "\n" : ",\n").Append("  \"").Append(weightMap[i].Key).Append("\": \"").Append(weightMap[i].File).Append('"');
        sb.Append(weightMap.Count == 0 ? "}" : "\n }").Append("\n}");
        return sb.ToString();
    }

    /// <summary>
    /// The test page: RGB, R = x*255/w, G = y*255/h, B = (x^y)&amp;255, filter 0 on every row.
    /// The Python compresses with zlib 1.2.13 level 6; .NET's ZLibStream (zlib-ng underneath) at level 6 need not
    /// produce the same deflate stream, so the PNG bytes may differ from the Python's: only the decoded pixels
    /// (and the IHDR) are guaranteed identical.
    /// </summary>
    public static void WritePng(string path, int w, int h)
    {
        var raw = PngRawScanlines(w, h);
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, new ZLibCompressionOptions { CompressionLevel = 6 }, leaveOpen: true)) zs.Write(raw);
        var ihdr = new byte[13];
        WriteBigEndian(ihdr, 0, (uint)w); WriteBigEndian(ihdr, 4, (uint)h);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit truecolour; compression, filter, interlace 0
        WriteAtomically(path, f =>
        {
            f.Write([0x89, (byte)'P', (byte)'N', (byte)'G', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n']);
            WriteChunk(f, "IHDR", ihdr);
            WriteChunk(f, "IDAT", z.ToArray());
            WriteChunk(f, "IEND", []);
        });
    }

    /// <summary>The uncompressed IDAT payload (filter byte + RGB per row), exposed so tests can compare pixels.</summary>
    public static byte[] PngRawScanlines(int w, int h)
    {
        var raw = new byte[h * (1 + 3 * w)];
        var i = 0;
        for (var y = 0; y < h; y++)
        {
            raw[i++] = 0;
            for (var x = 0; x < w; x++)
            {
                raw[i++] = (byte)(x * 255 / w);
                raw[i++] = (byte)(y * 255 / h);
                raw[i++] = (byte)((x ^ y) & 255);
            }
        }
        return raw;
    }

    private static void WriteChunk(Stream f, string type, byte[] data)
    {
        var td = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type, td);
        data.CopyTo(td, 4);
        var be = new byte[4];
        WriteBigEndian(be, 0, (uint)data.Length); f.Write(be);
        f.Write(td);
        WriteBigEndian(be, 0, Crc32.HashToUInt32(td)); f.Write(be);
    }

    private static void WriteBigEndian(byte[] b, int at, uint v)
    {
        b[at] = (byte)(v >> 24); b[at + 1] = (byte)(v >> 16); b[at + 2] = (byte)(v >> 8); b[at + 3] = (byte)v;
    }

    /// <summary>Write to path.tmp then rename, so a crash or a concurrent reader never sees a half-written checkpoint.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        var tmp = path + ".tmp";
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20)) write(f);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
