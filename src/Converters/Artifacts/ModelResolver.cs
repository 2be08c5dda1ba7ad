using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.HfConfig;

namespace ModelForge.Converters.Artifacts;

/// <summary>
/// The family, config and provenance an export uses, decided before any graph is built.
/// <see cref="Config"/> is in the family's fixture.json format (null = the released defaults);
/// <see cref="Sources"/> says where each field came from ("config.json:vision_config.depth", "default (...)", "--config",
/// "checkpoint keys"); <see cref="Preprocessing"/> holds the processor parameters read from the folder (or null).
/// </summary>
public sealed record ResolvedModel(
    Architecture Architecture,
    JsonElement? Config,
    IReadOnlyDictionary<string, string> Sources,
    JsonElement? Preprocessing,
    string FamilySource);

/// <summary>
/// Decides family and hyperparameters from what the user gave: --arch (optional), the checkpoint's tensor names (the
/// key signature), DIR/config.json + processor config (when the checkpoint is a folder, or an index file inside one) and
/// --config (overrides field by field). Any two of --arch, config.json and the key signature that name different
/// families are one line naming the file and field (exit 2).
/// </summary>
public static class ModelResolver
{
    /// <summary>Resolves; <paramref name="userConfig"/> is the parsed --config document's root, or null.</summary>
    public static ResolvedModel Resolve(string checkpointPath, string? arch, JsonElement? userConfig)
    {
        string full = Path.GetFullPath(checkpointPath);
        string? dir = Directory.Exists(full) ? full
            : File.Exists(full) && full.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase) ? Path.GetDirectoryName(full) : null;
        var folder = dir is null ? null : HfFolder.Open(dir);

        string[] keys;
        using (var checkpoint = Checkpoint.Open(full)) keys = checkpoint.Tensors.Select(t => t.Name).ToArray();
        string? byKeys = FamilySignatures.Identify(keys);
        var byArch = arch is null ? null : ArchitectureRegistry.Get(arch);

        HfResolved? hf = null;
        if (folder is not null)
        {
            var claimed = HfConfigReaders.All.Where(r => r.Recognize(folder.Config) is not null).ToList();
            if (claimed.Count == 1) hf = claimed[0].Read(folder);
            else
            {
                // A known-but-unbuilt family (Qwen2.5-VL shares Qwen2-VL's key names) must not pass as its predecessor.
                HfConfigReaders.RefuseNotBuilt(folder);
                // An unrelated config.json is fine when --arch or the key signature decides; otherwise say what it is.
                if (claimed.Count > 1 || (byArch is null && byKeys is null)) HfConfigReaders.Read(folder);
            }
        }

        string family;
        string familySource;
        if (byArch is not null) (family, familySource) = (byArch.Name, "--arch");
        else if (hf is not null) (family, familySource) = (hf.Family, $"config.json:{hf.Recognized}");
        else if (byKeys is not null) (family, familySource) = (byKeys, "checkpoint keys");
        else
            throw new CheckpointMismatchException(
                $"{full}: no --arch, no config.json beside the weights, and its tensor names match no known family; pass --arch");

        if (hf is not null && hf.Family != family)
            throw new CheckpointMismatchException(
                $"{folder!.PathOf("config.json")}: {hf.Recognized} is a {hf.Family} model, but --arch is {family}");
        if (byKeys is not null && byKeys != family)
        {
            string said = familySource == "--arch" ? "--arch is" : $"{folder?.PathOf("config.json")} {hf?.Recognized} says";
            throw new CheckpointMismatchException(
                $"{full}: the tensor names are {byKeys} names ({Signature(byKeys)}), but {said} {family}");
        }
        var architecture = ArchitectureRegistry.Get(family);

        var sources = new SortedDictionary<string, string>(StringComparer.Ordinal);
        JsonObject? config = null;
        if (hf is not null)
        {
            config = (JsonObject)hf.Config.DeepClone();
            foreach (var (k, v) in hf.Sources.Where(kv => !kv.Key.StartsWith("preprocessing.", StringComparison.Ordinal))) sources[k] = v;
        }
        if (userConfig is { } user)
        {
            if (user.ValueKind != JsonValueKind.Object) throw new Graphs.Ir.GraphException("--config: must be a JSON object");
            config ??= [];
            Merge(config, (JsonObject)JsonNode.Parse(user.GetRawText())!, "", sources);
        }
        if (architecture.DetectLayout(keys) is { } layout && layout != "original")
        {
            config ??= [];
            if (config["checkpoint_layout"] is null)
            {
                config["checkpoint_layout"] = layout;
                sources["checkpoint_layout"] = "checkpoint keys";
            }
        }
        if (hf is not null)
            foreach (var (k, v) in hf.Sources.Where(kv => kv.Key.StartsWith("preprocessing.", StringComparison.Ordinal))) sources[k] = v;
        JsonElement? configElement = config is null ? null : JsonSerializer.SerializeToElement(config);
        JsonElement? pre = hf is null ? null : JsonSerializer.SerializeToElement(hf.Preprocessing);
        return new ResolvedModel(architecture, configElement, sources, pre, familySource);
    }

    /// <summary>Deep merge: every leaf of <paramref name="over"/> replaces the base's and is recorded as "--config".</summary>
    private static void Merge(JsonObject into, JsonObject over, string prefix, IDictionary<string, string> sources)
    {
        foreach (var (k, v) in over.ToList())
        {
            string path = prefix + k;
            if (v is JsonObject o && into[k] is JsonObject existing)
            {
                Merge(existing, o, path + ".", sources);
                continue;
            }
            into[k] = v?.DeepClone();
            var stale = sources.Keys.Where(s => s == path || s.StartsWith(path + ".", StringComparison.Ordinal)).ToList();
            foreach (var s in stale) sources.Remove(s);
            sources[path] = "--config";
        }
    }

    private static string Signature(string family) =>
        string.Join(", ", FamilySignatures.All.First(f => f.Family == family).Prefixes.Select(p => p + "*"));
}
