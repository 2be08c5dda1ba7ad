using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Checkpoints;

/// <summary>A validated tensor entry: its description and where its bytes start in the data section.</summary>
internal readonly record struct TensorEntry(TensorInfo Info, long Begin);

/// <summary>
/// Parses and validates a safetensors JSON header with <see cref="Utf8JsonReader"/> (so duplicate keys are seen and
/// nesting is bounded). Every defect becomes a <see cref="CheckpointFormatException"/> naming the file and the tensor.
/// </summary>
internal sealed class SafetensorsHeader
{
    private const string MetadataKey = "__metadata__";

    private readonly string _path;
    private readonly SafetensorsLimits _limits;

    private SafetensorsHeader(string path, SafetensorsLimits limits)
    {
        _path = path;
        _limits = limits;
    }

    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public List<TensorEntry> Tensors { get; } = [];

    /// <summary>
    /// Parses <paramref name="json"/> and checks every entry against a data section of <paramref name="dataLength"/> bytes.
    /// </summary>
    public static SafetensorsHeader Parse(string path, ReadOnlySpan<byte> json, long dataLength, SafetensorsLimits limits)
    {
        var h = new SafetensorsHeader(path, limits);
        if (!Utf8.IsValid(json)) throw h.Fail("header is not valid UTF-8");
        var reader = new Utf8JsonReader(json, new JsonReaderOptions
        {
            // One level more than allowed, so the too-deep token is seen by Next() and reported as nesting.
            MaxDepth = limits.MaxJsonDepth == int.MaxValue ? int.MaxValue : limits.MaxJsonDepth + 1,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        });
        try
        {
            h.ParseRoot(ref reader);
        }
        catch (JsonException e)
        {
            throw h.Fail($"header is not valid JSON ({e.Message})", e);
        }
        h.CheckData(dataLength);
        return h;
    }

    private CheckpointFormatException Fail(string defect, Exception? inner = null) => new(_path, defect, inner);

    private CheckpointFormatException Fail(string tensor, string defect) => new(_path, $"tensor '{tensor}': {defect}");

    /// <summary>Reads the next token, refusing nesting deeper than the limit.</summary>
    private bool Next(ref Utf8JsonReader r)
    {
        if (!r.Read()) return false;
        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && r.CurrentDepth + 1 > _limits.MaxJsonDepth)
            throw Fail($"header JSON nesting is deeper than the limit of {_limits.MaxJsonDepth} levels");
        return true;
    }

    private void NextOrFail(ref Utf8JsonReader r)
    {
        if (!Next(ref r)) throw Fail("header is not valid JSON (it ends early)");
    }

    private void SkipValue(ref Utf8JsonReader r)
    {
        if (r.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray)) return;
        int depth = r.CurrentDepth;
        do NextOrFail(ref r);
        while (!(r.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && r.CurrentDepth == depth));
    }

    private void ParseRoot(ref Utf8JsonReader r)
    {
        if (!Next(ref r) || r.TokenType != JsonTokenType.StartObject) throw Fail("header is not a JSON object");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            NextOrFail(ref r);
            if (r.TokenType == JsonTokenType.EndObject) break;
            string key = r.GetString()!;
            if (!seen.Add(key))
                throw key == MetadataKey
                    ? Fail("header has a duplicate __metadata__ entry")
                    : Fail(key, "duplicate tensor name in the header");
            NextOrFail(ref r);
            if (key == MetadataKey)
            {
                ParseMetadata(ref r);
                continue;
            }
            if (Tensors.Count >= _limits.MaxTensors)
                throw Fail($"header has more than the limit of {_limits.MaxTensors} tensors");
            Tensors.Add(ParseTensor(ref r, key));
        }
        if (Next(ref r)) throw Fail("header has data after its JSON object");
    }

    private void ParseMetadata(ref Utf8JsonReader r)
    {
        if (r.TokenType == JsonTokenType.Null) return;
        if (r.TokenType != JsonTokenType.StartObject) throw Fail("__metadata__ is not a string-to-string object");
        while (true)
        {
            NextOrFail(ref r);
            if (r.TokenType == JsonTokenType.EndObject) return;
            string key = r.GetString()!;
            NextOrFail(ref r);
            if (r.TokenType != JsonTokenType.String)
                throw Fail($"__metadata__ value of '{key}' is not a string (metadata must be a string-to-string object)");
            if (!Metadata.TryAdd(key, r.GetString()!)) throw Fail($"__metadata__ has a duplicate key '{key}'");
        }
    }

    private TensorEntry ParseTensor(ref Utf8JsonReader r, string name)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw Fail(name, "entry is not a JSON object");
        string? dtypeName = null;
        List<long>? shape = null;
        List<long>? offsets = null;
        while (true)
        {
            NextOrFail(ref r);
            if (r.TokenType == JsonTokenType.EndObject) break;
            string field = r.GetString()!;
            NextOrFail(ref r);
            switch (field)
            {
                case "dtype":
                    if (dtypeName is not null) throw Fail(name, "duplicate dtype field");
                    if (r.TokenType != JsonTokenType.String) throw Fail(name, "dtype is not a string");
                    dtypeName = r.GetString()!;
                    break;
                case "shape":
                    if (shape is not null) throw Fail(name, "duplicate shape field");
                    shape = ReadIntegers(ref r, name, "shape", _limits.MaxRank,
                        $"rank exceeds the limit of {_limits.MaxRank} dimensions");
                    break;
                case "data_offsets":
                    if (offsets is not null) throw Fail(name, "duplicate data_offsets field");
                    offsets = ReadIntegers(ref r, name, "data_offsets", 2, "data_offsets must be exactly 2 integers [begin, end]");
                    break;
                default:
                    SkipValue(ref r); // unknown fields are ignored, as the reference implementation does
                    break;
            }
        }
        if (dtypeName is null) throw Fail(name, "missing dtype");
        if (shape is null) throw Fail(name, "missing shape");
        if (offsets is null) throw Fail(name, "missing data_offsets");
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
            throw Fail(name, $"dtype '{dtypeName}' is not supported (ModelForge reads {SafetensorsDTypes.SupportedList})");
        if (offsets.Count != 2) throw Fail(name, "data_offsets must be exactly 2 integers [begin, end]");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw Fail(name, $"data_offsets begin {begin} is after end {end}");

        long[] dims = [.. shape];
        long byteLength;
        try
        {
            long count = 1;
            foreach (long d in dims) count = checked(count * d);
            byteLength = checked(count * dtype.SizeOf());
        }
        catch (OverflowException)
        {
            throw Fail(name, $"element count of shape [{string.Join(", ", dims)}] overflows");
        }
        if (end - begin != byteLength)
            throw Fail(name, $"data_offsets [{begin}, {end}] span {end - begin} bytes, "
                + $"but shape [{string.Join(", ", dims)}] of {dtypeName} needs {byteLength} (length mismatch)");
        return new TensorEntry(new TensorInfo(name, dtype, dims, byteLength), begin);
    }

    /// <summary>Reads an array of non-negative integers, refusing more than <paramref name="max"/> of them.</summary>
    private List<long> ReadIntegers(ref Utf8JsonReader r, string tensor, string field, int max, string tooMany)
    {
        if (r.TokenType != JsonTokenType.StartArray) throw Fail(tensor, $"{field} is not an array of non-negative integers");
        var values = new List<long>();
        while (true)
        {
            NextOrFail(ref r);
            if (r.TokenType == JsonTokenType.EndArray) return values;
            if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out long v) || v < 0)
                throw Fail(tensor, $"{field} is not an array of non-negative integers (found {Describe(ref r)})");
            if (values.Count >= max) throw Fail(tensor, tooMany);
            values.Add(v);
        }
    }

    private static string Describe(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null => Encoding.UTF8.GetString(r.ValueSpan),
        JsonTokenType.String => "a string",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        _ => r.TokenType.ToString(),
    };

    /// <summary>Every tensor inside the data section, and no two sharing a byte (holes between tensors are allowed).</summary>
    private void CheckData(long dataLength)
    {
        foreach (var t in Tensors)
        {
            long end = t.Begin + t.Info.ByteLength;
            if (end > dataLength)
                throw Fail(t.Info.Name,
                    $"data_offsets end {end} is beyond the end of the data section ({dataLength} bytes; file truncated?)");
        }
        var occupied = Tensors.Where(t => t.Info.ByteLength > 0)
            .OrderBy(t => t.Begin).ThenBy(t => t.Info.Name, StringComparer.Ordinal).ToList();
        for (int i = 1; i < occupied.Count; i++)
        {
            var prev = occupied[i - 1];
            var cur = occupied[i];
            if (cur.Begin < prev.Begin + prev.Info.ByteLength)
                throw Fail(cur.Info.Name, $"data overlaps tensor '{prev.Info.Name}' "
                    + $"(bytes [{cur.Begin}, {cur.Begin + cur.Info.ByteLength}) and [{prev.Begin}, {prev.Begin + prev.Info.ByteLength}))");
        }
    }
}
