using ModelForge.Graphs.Ir;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ModelForge.Graphs.Architectures.HfConfig;

/// <summary>
/// Builds a family's fixture.json-format config from an <see cref="HfFolder"/>, one field at a time, recording where each
/// value came from: "config.json:vision_config.depth", "preprocessor_config.json:min_pixels", "default (Qwen2VLVisionConfig)"
/// (the original config class's default, used exactly when the original loader would use it: the key is absent), or
/// "derived (...)". A present field of the wrong JSON kind is a <see cref="GraphException"/> naming the file and field.
/// </summary>
public sealed class HfConfigBuilder(HfFolder folder)
{
    /// <summary>The folder being read.</summary>
    public HfFolder Folder { get; } = folder;

    /// <summary>The config in the family's fixture.json format (what <see cref="Architecture.Build"/> reads).</summary>
    public JsonObject Config { get; } = new();

    /// <summary>Target field ("vit.depth", "preprocessing.min_pixels") -> where its value came from.</summary>
    public SortedDictionary<string, string> Sources { get; } = new(StringComparer.Ordinal);

    /// <summary>Preprocessing parameters (not part of the graph; recorded in the manifest for the runtime's processor).</summary>
    public JsonObject Preprocessing { get; } = new();

    /// <summary>An integer from the first present config.json path, else <paramref name="fallback"/>; |value| at most 2^20.</summary>
    public int Int(string target, int fallback, string defaultOf, params string[] paths)
        => Bounded(target, fallback, defaultOf, 1 << 20, paths);

    /// <summary>
    /// A layer count (at most 1024: the graph is built layer by layer before any weight is read, so a stranger's config
    /// must not be able to ask for millions of layers).
    /// </summary>
    public int Layers(string target, int fallback, string defaultOf, params string[] paths)
        => Bounded(target, fallback, defaultOf, 1024, paths);

    private int Bounded(string target, int fallback, string defaultOf, int max, string[] paths)
    {
        int v = Take(target, Folder.Config, "config.json", paths, fallback, defaultOf,
            "an integer", e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? (true, v) : (false, 0));
        if (Math.Abs((long)v) > max) throw Error(FieldOf(target), $"{v} is out of range (at most {max})");
        return v;
    }

    /// <summary>A number from the first present config.json path, else <paramref name="fallback"/>.</summary>
    public double Number(string target, double fallback, string defaultOf, params string[] paths) =>
        Take(target, Folder.Config, "config.json", paths, fallback, defaultOf,
            "a number", e => (e.ValueKind == JsonValueKind.Number, e.ValueKind == JsonValueKind.Number ? e.GetDouble() : 0));

    /// <summary>A boolean from the first present config.json path, else <paramref name="fallback"/>.</summary>
    public bool Bool(string target, bool fallback, string defaultOf, params string[] paths) =>
        Take(target, Folder.Config, "config.json", paths, fallback, defaultOf,
            "true or false",
            e => (e.ValueKind is JsonValueKind.True or JsonValueKind.False, e.ValueKind == JsonValueKind.True));

    /// <summary>A string from the first present config.json path, else <paramref name="fallback"/>.</summary>
    public string Str(string target, string fallback, string defaultOf, params string[] paths) =>
        Take(target, Folder.Config, "config.json", paths, fallback, defaultOf,
            "a string", e => (e.ValueKind == JsonValueKind.String, e.ValueKind == JsonValueKind.String ? e.GetString()! : ""));

    /// <summary>An integer array from the first present config.json path, else <paramref name="fallback"/>.</summary>
    public int[] Ints(string target, int[] fallback, string defaultOf, params string[] paths) =>
        Take(target, Folder.Config, "config.json", paths, fallback, defaultOf,
            "an array of integers", e => IntArray(e) is { } a ? (true, a) : (false, []));

    /// <summary>
    /// A preprocessing parameter: the first present path in the processor config, then in config.json, else the default.
    /// Stored under "preprocessing.NAME" in <see cref="Sources"/> and in <see cref="Preprocessing"/>.
    /// </summary>
    public JsonNode? Pre(string name, JsonNode? fallback, string defaultOf, params string[] paths)
    {
        foreach (var (root, file) in new[] { (Folder.Preprocessor, Folder.PreprocessorFile), (Folder.Config, "config.json") })
        {
            if (root is not { } r || file is null) continue;
            foreach (var p in paths)
            {
                if (Find(r, p) is not { } e || e.ValueKind == JsonValueKind.Null) continue;
                Preprocessing[name] = JsonNode.Parse(e.GetRawText());
                Sources["preprocessing." + name] = $"{file}:{p}";
                return Preprocessing[name];
            }
        }
        Preprocessing[name] = fallback?.DeepClone();
        Sources["preprocessing." + name] = $"default ({defaultOf})";
        return fallback;
    }

    /// <summary>A preprocessing integer (see <see cref="Pre"/>); a present value of another kind names its file and field.</summary>
    public int PreInt(string name, int fallback, string defaultOf, params string[] paths)
    {
        var node = Pre(name, fallback, defaultOf, paths);
        if (node is JsonValue v && v.TryGetValue(out int i)) return i;
        if (node is JsonValue d && d.TryGetValue(out double x) && x == Math.Floor(x) && Math.Abs(x) < int.MaxValue) return (int)x;
        string src = Sources["preprocessing." + name];
        throw new GraphException(
            $"{Folder.PathOf(src.Split(':')[0])}: {src.Split(':')[^1]} must be an integer, got {node?.ToJsonString()}");
    }

    /// <summary>Sets a value computed from others ("derived (how)").</summary>
    public void Derived(string target, JsonNode? value, string how)
    {
        SetPath(target, value);
        Sources[target] = $"derived ({how})";
    }

    /// <summary>
    /// Removes a value that was read only to check it or to derive others from (it is not a field of the family's config,
    /// so the builder must not see it) from the config and the sources; returns where it came from, for the derived
    /// fields' sources.
    /// </summary>
    public string Drop(string target)
    {
        var parts = target.Split('.');
        var o = Config;
        foreach (var p in parts[..^1]) o = (JsonObject)o[p]!;
        o.Remove(parts[^1]);
        string source = Sources[target];
        Sources.Remove(target);
        return source;
    }

    /// <summary>
    /// The reader's result: its family, the config.json field that named the family, and what was built here. Every reader
    /// ends with this, so the result always carries the same config, sources and preprocessing the builder recorded.
    /// </summary>
    public HfResolved Resolved(IHfConfigReader reader) =>
        new(reader.Family, reader.Recognize(Folder.Config)!, Config, Sources, Preprocessing);

    /// <summary>The raw element at a dotted config.json path ("vision_config.width.sam_vit_b"), or null.</summary>
    public JsonElement? Find(string path) => Find(Folder.Config, path);

    /// <summary>Dotted path lookup through nested objects (keys may contain '-', never '.').</summary>
    public static JsonElement? Find(JsonElement root, string path)
    {
        var e = root;
        foreach (var part in path.Split('.'))
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(part, out var next)) return null;
            e = next;
        }
        return e;
    }

    /// <summary>A one-line error about a config.json field.</summary>
    public GraphException Error(string path, string problem) => new($"{Folder.PathOf("config.json")}: {path} {problem}");

    /// <summary>A one-line error about the processor config's field.</summary>
    public GraphException PreError(string name, string problem)
    {
        string src = Sources.GetValueOrDefault("preprocessing." + name, name);
        int colon = src.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && !src.StartsWith("default", StringComparison.Ordinal)
            ? new GraphException($"{Folder.PathOf(src[..colon])}: {src[(colon + 1)..]} {problem}")
            : new GraphException($"{Folder.Dir}: preprocessing {name} {problem}");
    }

    /// <summary>The config.json path a target's value was read from, for messages ("vision_config.depth"), or the target.</summary>
    public string FieldOf(string target)
    {
        string src = Sources.GetValueOrDefault(target, target);
        return src.StartsWith("config.json:", StringComparison.Ordinal) ? src["config.json:".Length..] : $"{target} ({src})";
    }

    private T Take<T>(string target, JsonElement root, string file, string[] paths, T fallback, string defaultOf, string kind,
        Func<JsonElement, (bool Ok, T Value)> read)
    {
        foreach (var p in paths)
        {
            // A JSON null reads as absent, as PretrainedConfig's keyword defaults treat None for most fields.
            if (Find(root, p) is not { } e || e.ValueKind == JsonValueKind.Null) continue;
            var (ok, v) = read(e);
            if (!ok) throw new GraphException($"{Folder.PathOf(file)}: {p} must be {kind}, got {Short(e)}");
            SetPath(target, JsonSerializer.SerializeToNode(v));
            Sources[target] = $"{file}:{p}";
            return v;
        }
        SetPath(target, JsonSerializer.SerializeToNode(fallback));
        Sources[target] = $"default ({defaultOf})";
        return fallback;
    }

    private static int[]? IntArray(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Array) return null;
        var list = new List<int>();
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out int v)) return null;
            list.Add(v);
        }
        return list.ToArray();
    }

    private static string Short(JsonElement e)
    {
        string raw = e.GetRawText();
        return raw.Length <= 40 ? raw : raw[..40] + "...";
    }

    private void SetPath(string target, JsonNode? value)
    {
        var parts = target.Split('.');
        var o = Config;
        foreach (var p in parts[..^1])
        {
            if (o[p] is not JsonObject child)
            {
                child = new JsonObject();
                o[p] = child;
            }
            o = child;
        }
        o[parts[^1]] = value;
    }

    /// <summary>Invariant text of a number (messages).</summary>
    public static string Text(double v) => v.ToString(CultureInfo.InvariantCulture);
}
