using ModelForge.Graphs.Ir;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Architectures.InternVl2;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Architectures.Vary;

namespace ModelForge.Graphs.Architectures.HfConfig;

/// <summary>What a family's reader made of a Hugging Face folder.</summary>
/// <param name="Family">The --arch name.</param>
/// <param name="Recognized">Which config.json field named the family ("config.json:model_type 'qwen2_vl'").</param>
/// <param name="Config">The family's fixture.json-format config (what the builder reads).</param>
/// <param name="Sources">Field -> where its value came from (see <see cref="HfConfigBuilder"/>).</param>
/// <param name="Preprocessing">The processor's parameters (resize, normalisation, tiling), for the manifest.</param>
public sealed record HfResolved(string Family, string Recognized, JsonObject Config, IReadOnlyDictionary<string, string> Sources,
    JsonObject Preprocessing);

/// <summary>
/// Reads one family's config.json / processor config into its fixture.json-format config. One small class per family,
/// in the family's folder (e.g. Qwen2Vl/Qwen2VlHfConfig.cs); register it in <see cref="HfConfigReaders.All"/>.
/// Adding a family (DeepEncoder2HfConfig and Qwen25VlHfConfig were added that way) is one new reader file plus one line there: implement
/// <see cref="Recognize"/> on config.json's model_type / architectures and <see cref="Read"/> with the original config
/// classes' defaults, and drop its entry from <see cref="HfConfigReaders.NotBuilt"/>.
/// </summary>
public interface IHfConfigReader
{
    /// <summary>The --arch name the reader produces.</summary>
    string Family { get; }

    /// <summary>
    /// Whether config.json describes this family; returns the field that says so ("model_type 'qwen2_vl'"), or null.
    /// </summary>
    string? Recognize(JsonElement config);

    /// <summary>Reads the folder; throws <see cref="GraphException"/> naming file and field for wrong or inconsistent values.</summary>
    HfResolved Read(HfFolder folder);
}

/// <summary>The registry of config readers, and the families whose configs are known but whose builders are not written yet.</summary>
public static class HfConfigReaders
{
    /// <summary>One reader per built family.</summary>
    public static IReadOnlyList<IHfConfigReader> All { get; } =
        [new DeepEncoderHfConfig(), new VaryHfConfig(), new InternVl2HfConfig(), new Qwen2VlHfConfig(), new DeepEncoder2HfConfig(),
            new Qwen25VlHfConfig()];

    /// <summary>
    /// Configs ModelForge recognises but cannot build yet (config.json field value -> what it is), so such a folder gets
    /// "not built yet" instead of "unknown". Remove an entry when its reader lands.
    /// </summary>
    public static IReadOnlyList<(string Field, string Value, string What)> NotBuilt { get; } =
    [
        ("model_type", "deepseek_ocr2", "DeepEncoder V2 (DeepSeek-OCR 2, transformers-native)"),
    ];

    /// <summary>The folder's family reader result; throws when config.json names no known family (one line, file + field).</summary>
    public static HfResolved Read(HfFolder folder)
    {
        var hits = All.Select(r => (Reader: r, Why: r.Recognize(folder.Config))).Where(x => x.Why is not null).ToList();
        if (hits.Count == 1) return hits[0].Reader.Read(folder);
        string file = folder.PathOf("config.json");
        if (hits.Count > 1)
        {
            string which = string.Join(", ", hits.Select(h => $"{h.Reader.Family} by {h.Why}"));
            throw new GraphException($"{file}: matches several families ({which}); pass --arch");
        }
        RefuseNotBuilt(folder);
        var mt = HfConfigBuilder.Find(folder.Config, "model_type");
        string modelType = mt is { ValueKind: JsonValueKind.String } m ? $"'{m.GetString()}'" : "missing";
        throw new GraphException(
            $"{file}: model_type {modelType} and architectures name no family ModelForge builds ({Built}); pass --arch and --config");
    }

    /// <summary>Throws when config.json names a family in <see cref="NotBuilt"/> (one line: file, field, value).</summary>
    public static void RefuseNotBuilt(HfFolder folder)
    {
        foreach (var (field, value, what) in NotBuilt)
        {
            if (HfConfigBuilder.Find(folder.Config, field) is { ValueKind: JsonValueKind.String } e && e.GetString() == value)
                throw new GraphException(
                    $"{folder.PathOf("config.json")}: {field} '{value}' is {what}, which ModelForge does not build yet (built: {Built})");
        }
    }

    private static string Built => string.Join(", ", All.Select(r => r.Family));

    /// <summary>config.json's model_type and architectures[0] (either may be null).</summary>
    public static (string? ModelType, string? Architecture) Names(JsonElement config)
    {
        string? mt = config.TryGetProperty("model_type", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        string? arch = config.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
            && a[0].ValueKind == JsonValueKind.String ? a[0].GetString() : null;
        return (mt, arch);
    }

    /// <summary>"model_type 'x'" when model_type is one of <paramref name="types"/>, else "architectures 'y'" when that matches.</summary>
    public static string? Match(JsonElement config, string[] types, string[] architectures)
    {
        var (mt, arch) = Names(config);
        if (mt is not null && types.Contains(mt)) return $"model_type '{mt}'";
        if (arch is not null && architectures.Contains(arch)) return $"architectures '{arch}'";
        return null;
    }
}
