using ModelForge.Graphs.Ir;
using System.Text.Json;

namespace ModelForge.Graphs.Architectures.HfConfig;

/// <summary>
/// The configuration files of a Hugging Face model folder, as `save_pretrained` writes them: config.json (required) and
/// the processor's preprocessor_config.json or processor_config.json (optional; DeepSeek-OCR ships the latter).
/// Files are read whole (16 MiB cap, JSON nesting 32); a file that is not a JSON object is a <see cref="GraphException"/>
/// naming it. Field reads go through <see cref="HfConfigBuilder"/>, which records where each value came from.
/// </summary>
public sealed class HfFolder
{
    private const long MaxBytes = 16 << 20;

    private HfFolder(string dir, JsonElement config, string? preprocessorFile, JsonElement? preprocessor)
    {
        Dir = dir;
        Config = config;
        PreprocessorFile = preprocessorFile;
        Preprocessor = preprocessor;
    }

    /// <summary>The folder.</summary>
    public string Dir { get; }

    /// <summary>config.json's root object.</summary>
    public JsonElement Config { get; }

    /// <summary>File name of the processor config that was found ("preprocessor_config.json" / "processor_config.json"), or null.</summary>
    public string? PreprocessorFile { get; }

    /// <summary>The processor config's root object, or null.</summary>
    public JsonElement? Preprocessor { get; }

    /// <summary>Path of a file in the folder (for messages).</summary>
    public string PathOf(string file) => Path.Combine(Dir, file);

    /// <summary>Reads DIR/config.json and the processor config; null when the folder has no config.json.</summary>
    public static HfFolder? Open(string dir)
    {
        string config = Path.Combine(dir, "config.json");
        if (!File.Exists(config)) return null;
        var root = ReadObject(config);
        foreach (string name in new[] { "preprocessor_config.json", "processor_config.json" })
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p)) return new HfFolder(dir, root, name, ReadObject(p));
        }
        return new HfFolder(dir, root, null, null);
    }

    /// <summary>An in-memory folder (tests, the released-variant table): config.json text and optional processor text.</summary>
    public static HfFolder FromText(string dir, string configJson, string? preprocessorFile = null, string? preprocessorJson = null) =>
        new(dir, Parse(Path.Combine(dir, "config.json"), System.Text.Encoding.UTF8.GetBytes(configJson)), preprocessorFile,
            preprocessorJson is null ? null
                : Parse(Path.Combine(dir, preprocessorFile ?? "preprocessor_config.json"),
                    System.Text.Encoding.UTF8.GetBytes(preprocessorJson)));

    private static JsonElement ReadObject(string path)
    {
        var info = new FileInfo(path);
        if (info.Length > MaxBytes) throw new GraphException($"{path}: larger than 16 MiB, not a model config");
        return Parse(path, File.ReadAllBytes(path));
    }

    private static JsonElement Parse(string path, byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 32 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new GraphException($"{path}: the top level must be a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new GraphException($"{path}: not valid JSON ({e.Message.Split('.')[0]})");
        }
    }
}
