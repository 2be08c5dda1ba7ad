using System.Buffers.Binary;
using System.Text;
using CsCheck;
using ModelForge.Converters.Checkpoints;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// One generated safetensors file: its bytes, the limits to open it with and what must happen. <see cref="MayOpen"/>
/// false means the file is certainly malformed, so opening it successfully is itself a bug; <see cref="MustSay"/>, when
/// set, is a fragment the refusal must contain (so a file refused for the wrong reason is caught too).
/// </summary>
public sealed record FuzzCase(string Kind, byte[] Bytes, SafetensorsLimits Limits, bool MayOpen = false, string? MustSay = null)
{
    public override string ToString() =>
        $"{Kind} ({Bytes.Length} bytes, limits {Limits}): {Encoding.UTF8.GetString(Bytes.AsSpan(0, Math.Min(Bytes.Length, 300)))}";
}

/// <summary>
/// CsCheck generators of malformed safetensors files, built in memory. Valid files are assembled here (not with
/// SafetensorsWriter) so each defect can be placed exactly: tensors are packed back to back and the last one always
/// ends at the end of the file, which makes every truncation a real defect.
/// </summary>
public static class MalformedSafetensors
{
    public static readonly string[] DTypes = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"];

    private static readonly SafetensorsLimits Defaults = SafetensorsLimits.Default;

    public sealed record Tensor(string Name, string DType, long[] Shape)
    {
        public long Bytes => Shape.Aggregate(1L, (a, d) => a * d) * SizeOf(DType);
    }

    public static int SizeOf(string dtype) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        _ => 1,
    };

    private static readonly Gen<string> GenName = Gen.String[Gen.Char["abw._0123456789"], 1, 10];

    private static readonly Gen<Tensor> GenTensor =
        from name in GenName
        from dtype in Gen.OneOf<string>(DTypes)
        from shape in Gen.Long[1, 5].Array[0, 3]
        select new Tensor(name, dtype, shape);

    /// <summary>1..4 valid tensors with distinct names; each holds at least one byte.</summary>
    private static readonly Gen<Tensor[]> GenTensors = GenTensor.Array[1, 4].Select(ts => ts.DistinctBy(t => t.Name).ToArray());

    /// <summary>The JSON entry of one tensor with the given (possibly broken) field texts.</summary>
    public static string Entry(string name, string dtype, string shape, string offsets) =>
        $"\"{name}\":{{\"dtype\":{dtype},\"shape\":{shape},\"data_offsets\":{offsets}}}";

    /// <summary>A valid header for packed tensors, and the data length it needs.</summary>
    public static (string Json, long DataLength) Header(IReadOnlyList<Tensor> tensors, string? extraEntries = null)
    {
        var parts = new List<string>();
        long at = 0;
        foreach (var t in tensors)
        {
            parts.Add(Entry(t.Name, $"\"{t.DType}\"", $"[{string.Join(",", t.Shape)}]", $"[{at},{at + t.Bytes}]"));
            at += t.Bytes;
        }
        if (extraEntries is not null) parts.Add(extraEntries);
        return ("{" + string.Join(",", parts) + "}", at);
    }

    /// <summary>u64 length + header + data (random bytes from <paramref name="seed"/>); <paramref name="declared"/> overrides the
    /// length.</summary>
    public static byte[] File(string json, long dataLength, int seed, ulong? declared = null)
        => File(Encoding.UTF8.GetBytes(json), dataLength, seed, declared);

    public static byte[] File(byte[] header, long dataLength, int seed, ulong? declared = null)
    {
        var bytes = new byte[8 + header.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declared ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        new Random(seed).NextBytes(bytes.AsSpan(8 + header.Length));
        return bytes;
    }

    /// <summary>A valid file cut anywhere before its end.</summary>
    public static Gen<FuzzCase> Truncated { get; } =
        from ts in GenTensors
        from seed in Gen.Int
        let full = File(Header(ts).Json, Header(ts).DataLength, seed)
        from cut in Gen.Int[0, full.Length - 1]
        select new FuzzCase("truncated", full[..cut], Defaults);

    /// <summary>The u64 header length points past the end of the file (by a little, or by anything up to 2^64-1).</summary>
    public static Gen<FuzzCase> HeaderLengthBeyondFile { get; } =
        from ts in GenTensors
        from seed in Gen.Int
        from excess in Gen.OneOf(Gen.ULong[1, 4096], Gen.ULong)
        let h = Header(ts)
        let length = 8 + Encoding.UTF8.GetByteCount(h.Json) + h.DataLength
        let declared = (ulong)(length - 8) + excess
        select new FuzzCase("header length beyond the file", File(h.Json, h.DataLength, seed,
            declared < (ulong)(length - 8) ? ulong.MaxValue : declared), Defaults); // wrapped around: still beyond

    /// <summary>Random bytes, or random JSON punctuation, as the header. May by chance be "{}" (a valid empty file).</summary>
    public static Gen<FuzzCase> NotJson { get; } =
        from header in Gen.OneOf(Gen.Byte.Array[1, 200],
            Gen.String[Gen.Char["{}[]\":,0123456789.eE+-truefalsn \\u\t"], 1, 80].Select(s => Encoding.UTF8.GetBytes(s)))
        from data in Gen.Int[0, 64]
        from seed in Gen.Int
        select new FuzzCase("not JSON", File(header, data, seed), Defaults, MayOpen: true);

    /// <summary>
    /// An unknown field nested d levels deep inside a tensor entry (unknown fields are skipped, but nesting is still
    /// bounded): refused exactly when 2 + d exceeds MaxJsonDepth; unclosed nesting is always refused.
    /// </summary>
    public static Gen<FuzzCase> DeepNesting { get; } =
        from d in Gen.OneOf(Gen.Int[1, 80], Gen.Int[1, 20_000])
        from limit in Gen.OneOf(Gen.Const(64), Gen.Int[3, 100])
        from obj in Gen.Bool
        from closed in Gen.Bool
        let open = obj ? string.Concat(Enumerable.Repeat("{\"k\":", d)) : new string('[', d)
        let close = obj ? new string('}', d) : new string(']', d)
        let nest = obj ? open + "1" + close : open + close
        let json = "{" + Entry("w", "\"F32\"", "[2]", "[0,8]").TrimEnd('}') + ",\"x\":" + (closed ? nest : open) + (closed ? "}}" : "")
        select new FuzzCase($"nesting {d} deep (limit {limit}, {(closed ? "closed" : "unclosed")})",
            File(json, 8, d), Defaults with { MaxJsonDepth = limit },
            MayOpen: closed && 2 + d <= limit,
            MustSay: closed ? (2 + d <= limit ? null : "nesting") : null);

    /// <summary>dtype names the reader does not know (other case, other widths, fp8, complex, not a string).</summary>
    public static Gen<FuzzCase> UnknownDType { get; } =
        from name in Gen.OneOf(
            Gen.OneOf<string>("\"f32\"", "\"F8_E4M3\"", "\"F8_E5M2\"", "\"C64\"", "\"U16\"", "\"U32\"", "\"U64\"", "\"F128\"", "\"\"",
                "\"F32 \"", "\"BF16\\u0000\""),
            Gen.String[Gen.Char.AlphaNumeric, 0, 12].Where(s => !DTypes.Contains(s)).Select(s => "\"x" + s + "\""),
            Gen.OneOf<string>("32", "null", "[\"F32\"]", "{}", "true"))
        select new FuzzCase("unknown dtype " + name, File("{" + Entry("w", name, "[1]", "[0,4]") + "}", 4, 1), Defaults, MustSay: "dtype");

    /// <summary>Negative, fractional, non-numeric, above-2^63 and overflowing shapes.</summary>
    public static Gen<FuzzCase> BadShape { get; } =
        from shape in Gen.OneOf(
            Gen.OneOf<string>("[-1]", "[2,-3]", "[1.5]", "[\"3\"]", "[null]", "[[2]]", "[1e400]", "[9223372036854775808]",
                "[18446744073709551616]", "{}", "3", "null", "[4294967296,4294967296]", "[9223372036854775807,2]",
                "[3037000500,3037000500]", "[-9223372036854775808]", "[1,]", "[1 2]"),
            Gen.Long[-1_000_000, -1].Select(v => $"[{v}]"),
            Gen.Long[1L << 31, long.MaxValue].Array[2, 4].Select(v => $"[{string.Join(",", v)}]"))
        from dtype in Gen.OneOf<string>(DTypes)
        select new FuzzCase("bad shape " + shape, File("{" + Entry("w", $"\"{dtype}\"", shape, "[0,8]") + "}", 8, 2), Defaults);

    /// <summary>data_offsets past the data, reversed, negative, fractional, of the wrong length or count.</summary>
    public static Gen<FuzzCase> BadOffsets { get; } =
        from ts in GenTensors
        from which in Gen.Int[0, 7]
        from k in Gen.Long[1, 1L << 40]
        from seed in Gen.Int
        let t = ts[0]
        let h = Header(ts.Skip(1).ToArray())
        let offsets = which switch
        {
            0 => $"[{h.DataLength + k - 1},{h.DataLength + k - 1 + t.Bytes}]",   // right length, starts past the data
            1 => $"[{t.Bytes + k},{k}]",                                        // begin after end
            2 => $"[-{k},{t.Bytes - k}]",
            3 => $"[0,{t.Bytes}.5]",
            4 => $"[0,{t.Bytes},{t.Bytes}]",
            5 => $"[{t.Bytes}]",
            6 => $"[{long.MaxValue - t.Bytes + 1},{long.MaxValue}]",
            _ => $"[0,{t.Bytes + k}]",                                          // length mismatch
        }
        let json = Header(ts.Skip(1).ToArray(), Entry(t.Name + "_x", $"\"{t.DType}\"", $"[{string.Join(",", t.Shape)}]", offsets)).Json
        select new FuzzCase("bad data_offsets " + offsets, File(json, h.DataLength, seed), Defaults);

    /// <summary>Two tensors sharing at least one byte of data.</summary>
    public static Gen<FuzzCase> Overlapping { get; } =
        from len in Gen.Int[2, 64]
        from a in Gen.Int[0, 63]
        from b in Gen.Int[0, 63]
        let lo = Math.Min(a, b)
        let hi = Math.Max(a, b)
        let second = Math.Min(hi, lo + len - 1)  // starts inside the first tensor's bytes
        let json = "{" + Entry("a", "\"U8\"", $"[{len}]", $"[{lo},{lo + len}]") + ","
            + Entry("b", "\"U8\"", $"[{len}]", $"[{second},{second + len}]") + "}"
        select new FuzzCase("overlapping", File(json, 64 + 2 * len, a), Defaults, MustSay: "overlaps");

    /// <summary>Duplicate tensor names, duplicate __metadata__, duplicate fields inside one entry.</summary>
    public static Gen<FuzzCase> Duplicates { get; } =
        from ts in GenTensors
        from which in Gen.Int[0, 4]
        from seed in Gen.Int
        let t = ts[0]
        let h = Header(ts)
        let json = which switch
        {
            0 => h.Json.TrimEnd('}') + "}," + Entry(t.Name, "\"U8\"", "[0]", "[0,0]") + "}",
            1 => "{\"__metadata__\":{},\"__metadata__\":{}," + h.Json[1..],
            2 => "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}," + h.Json[1..],
            3 => "{" + $"\"w\":{{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}" + "}",
            _ => "{" + $"\"w\":{{\"dtype\":\"U8\",\"shape\":[0],\"shape\":[0],\"data_offsets\":[0,0],\"data_offsets\":[0,0]}}" + "}",
        }
        select new FuzzCase("duplicate #" + which, File(json, h.DataLength, seed), Defaults, MustSay: "duplicate");

    /// <summary>A header one byte or more over a small MaxHeaderBytes: refused from the 8-byte prefix.</summary>
    public static Gen<FuzzCase> HeaderOverCap { get; } =
        from ts in GenTensors
        from seed in Gen.Int
        from slack in Gen.Int[1, 64]
        let h = Header(ts)
        let size = Encoding.UTF8.GetByteCount(h.Json)
        where size > slack
        select new FuzzCase("header over the cap", File(h.Json, h.DataLength, seed), Defaults with { MaxHeaderBytes = size - slack },
            MustSay: "exceeds the limit");

    /// <summary>More tensors than MaxTensors, or a rank above MaxRank.</summary>
    public static Gen<FuzzCase> OverCountOrRank { get; } =
        from ts in GenTensors
        from seed in Gen.Int
        from rank in Gen.Bool
        let h = Header(ts)
        let maxRank = ts.Max(t => t.Shape.Length) - 1
        where !rank || maxRank >= 0
        select rank
            ? new FuzzCase("rank over the limit", File(h.Json, h.DataLength, seed), Defaults with { MaxRank = maxRank },
                MustSay: "rank exceeds")
            : new FuzzCase("tensor count over the limit", File(h.Json, h.DataLength, seed), Defaults with { MaxTensors = ts.Length - 1 },
                MustSay: "more than the limit");

    /// <summary>A valid header text with 1..4 random character edits (insert, delete, replace, swap); may stay valid.</summary>
    public static Gen<FuzzCase> MutatedJson { get; } =
        from ts in GenTensors
        from seed in Gen.Int
        from edits in Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Char["{}[]\":,0123456789-.e \\xÿ\u2028"]).Array[1, 4]
        let h = Header(ts, "\"__metadata__\":{\"format\":\"pt\"}")
        select new FuzzCase("mutated JSON", File(Edit(h.Json, edits), h.DataLength, seed), Defaults, MayOpen: true);

    public static string Edit(string s, (int Op, int At, char C)[] edits)
    {
        var sb = new StringBuilder(s);
        foreach (var (op, at, c) in edits)
        {
            if (sb.Length == 0) break;
            int i = at % sb.Length;
            switch (op)
            {
                case 0: sb.Insert(i, c); break;
                case 1: sb.Remove(i, 1); break;
                case 2: sb[i] = c; break;
                default:
                    int j = (i + 1) % sb.Length;
                    (sb[i], sb[j]) = (sb[j], sb[i]);
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// A real checkpoint with its header region (the 8-byte length and the JSON) damaged: bit flips, bytes set, inserted,
    /// deleted, or the file cut inside the header. Inserting/deleting shifts everything after it. May stay valid.
    /// </summary>
    public static Gen<(int Op, int At, byte Value, int Count)> ByteMutation(int headerEnd) =>
        Gen.Select(Gen.Int[0, 4], Gen.OneOf(Gen.Int[0, 7], Gen.Int[0, headerEnd - 1]), Gen.Byte, Gen.Int[1, 16]);

    public static byte[] Mutate(byte[] file, (int Op, int At, byte Value, int Count) m)
    {
        int at = Math.Min(m.At, file.Length - 1);
        return m.Op switch
        {
            0 => With(file, at, (byte)(file[at] ^ (1 << (m.Value & 7)))),
            1 => With(file, at, m.Value),
            2 => [.. file.AsSpan(0, at), .. Enumerable.Repeat(m.Value, m.Count), .. file.AsSpan(at)],
            3 => [.. file.AsSpan(0, at), .. file.AsSpan(Math.Min(file.Length, at + m.Count))],
            _ => file[..at],
        };
    }

    private static byte[] With(byte[] file, int at, byte value)
    {
        var copy = (byte[])file.Clone();
        copy[at] = value;
        return copy;
    }

    /// <summary>Every generator above (declared last: static initializers run in textual order), weighted so the cheap structural defects
    /// dominate.</summary>
    public static Gen<FuzzCase> Any { get; } = Gen.Frequency(
        (3, Truncated), (2, HeaderLengthBeyondFile), (2, NotJson), (2, DeepNesting), (2, UnknownDType), (3, BadShape),
        (3, BadOffsets), (2, Overlapping), (2, Duplicates), (1, HeaderOverCap), (1, OverCountOrRank), (4, MutatedJson));
}
