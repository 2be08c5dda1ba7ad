using System.Security.Cryptography;
using System.Text.Json;
using ModelForge.Converters.IO;
using ModelForge.Converters.Onnx;

namespace ModelForge.Converters.Artifacts;

/// <summary>One part of an artifact as its manifest records it: name, model file (full path), input size and mode data.</summary>
public sealed record ManifestPart(string Name, string ModelPath, int? ImageSize);

/// <summary>
/// An export folder's manifest.json, read as untrusted input and verified against the folder: format
/// modelforge-artifact/*, no duplicate keys or parts, every file a plain name that stays inside the folder after links,
/// a regular file of the recorded size and sha256, and every part's model and external-data file among the listed
/// files. Nothing is loaded from the folder that the manifest does not vouch for. Every defect is an
/// <see cref="ArtifactException"/> naming manifest.json or the file.
/// </summary>
public sealed class ArtifactManifest
{
    /// <summary>Largest manifest read (16 MiB).</summary>
    public const long MaxBytes = 16 << 20;

    private ArtifactManifest(string folder, string? mode, IReadOnlyList<ManifestPart> parts)
    {
        Folder = folder;
        Mode = mode;
        Parts = parts;
    }

    /// <summary>The artifact folder (full path).</summary>
    public string Folder { get; }

    /// <summary>The mode the export was made for, when it recorded one.</summary>
    public string? Mode { get; }

    /// <summary>The parts, in manifest order, names unique.</summary>
    public IReadOnlyList<ManifestPart> Parts { get; }

    /// <summary>The part called <paramref name="name"/>, or null.</summary>
    public ManifestPart? Part(string name) => Parts.FirstOrDefault(p => p.Name == name);

    /// <summary>Reads and verifies <paramref name="folder"/>/manifest.json (sizes and sha256 of every listed file included).</summary>
    public static ArtifactManifest Load(string folder)
    {
        folder = OutputGuard.Canonical(folder, folder);
        string path = Path.Combine(folder, "manifest.json");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(SafeFile.ReadAllBytes(path, MaxBytes, path),
                new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new ArtifactException($"{path}: not valid JSON ({e.Message.Split(". ")[0]})");
        }
        catch (FileNotFoundException)
        {
            throw new ArtifactException($"{folder}: no manifest.json (not a ModelForge export folder)");
        }
        catch (IOException e)
        {
            throw new ArtifactException(e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message : $"{path}: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            string Fail(string what) => throw new ArtifactException($"{path}: {what}");
            if (root.ValueKind != JsonValueKind.Object) Fail("not a JSON object");
            if (!(root.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String
                  && format.GetString()!.StartsWith(OutputGuard.ArtifactFormatPrefix, StringComparison.Ordinal)))
                Fail($"no \"format\": \"{OutputGuard.ArtifactFormatPrefix}N\" (not a ModelForge manifest)");
            string? mode = root.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;

            // files: name -> (bytes, sha256), each verified on disk.
            if (!root.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array) Fail("no \"files\" array");
            var listed = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var f in files.EnumerateArray())
            {
                string name = Str(f, "name", path);
                if (!listed.TryAdd(name, Resolve(folder, name, path))) Fail($"file '{name}' is listed twice");
                long bytes = f.TryGetProperty("bytes", out var b) && b.ValueKind == JsonValueKind.Number
                    && b.TryGetInt64(out long n) && n >= 0 ? n : -1;
                if (bytes < 0) Fail($"file '{name}' has no valid \"bytes\"");
                Verify(listed[name], bytes, Str(f, "sha256", path));
            }

            if (!root.TryGetProperty("parts", out var parts) || parts.ValueKind != JsonValueKind.Array) Fail("no \"parts\" array");
            var result = new List<ManifestPart>();
            foreach (var p in parts.EnumerateArray())
            {
                string name = Str(p, "name", path);
                if (result.Any(r => r.Name == name)) Fail($"part '{name}' appears twice");
                string file = Str(p, "file", path);
                string model = Resolve(folder, file, path);
                if (!listed.ContainsKey(file))
                    Fail($"part '{name}': file '{file}' is not listed in \"files\" (nothing unverified is loaded)");
                int? size = null;
                if (p.TryGetProperty("image_size", out var s) && s.ValueKind != JsonValueKind.Null)
                    size = s.ValueKind == JsonValueKind.String
                        && int.TryParse(s.GetString(), System.Globalization.NumberStyles.None,
                            System.Globalization.CultureInfo.InvariantCulture, out int v) && v > 0
                        ? v : s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int w) && w > 0 ? w
                        : throw new ArtifactException($"{path}: part '{name}': image_size is not a positive integer");
                // External data the model refers to must be listed (and so verified) too.
                foreach (var init in OnnxModelReader.Read(model).Initializers.Where(i => i.Location is not null).Select(i => i.Location!)
                    .Distinct())
                    if (!listed.ContainsKey(init))
                        throw new ArtifactException($"{Path.Combine(folder, init)}: external data of part '{name}' " +
                            $"is not listed in {path} (nothing unverified is loaded)");
                result.Add(new ManifestPart(name, model, size));
            }
            if (result.Count == 0) Fail("no parts");
            return new ArtifactManifest(folder, mode, result);
        }
    }

    private static string Str(JsonElement e, string key, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
            && v.GetString() is { Length: > 0 } s
            ? s : throw new ArtifactException($"{path}: an entry has no \"{key}\" string");

    /// <summary>A listed name as a full path: a plain file name whose target (after links) stays in the folder.</summary>
    private static string Resolve(string folder, string name, string manifest)
    {
        if (name is "." or ".." || name.Contains('/') || name.Contains('\\') || name.Contains('\0') || Path.IsPathRooted(name))
            throw new ArtifactException($"{manifest}: file '{name}' is not a plain file name in the artifact folder " +
                "(it could point outside it)");
        string full = Path.Combine(folder, name);
        string real = OutputGuard.Canonical(full, full);
        if (Path.GetDirectoryName(real) != folder)
            throw new ArtifactException($"{full}: resolves to {real}, outside the artifact folder; refusing to load it");
        return full;
    }

    /// <summary>Regular file of exactly <paramref name="bytes"/> bytes whose sha256 is <paramref name="sha256"/>.</summary>
    private static void Verify(string file, long bytes, string sha256)
    {
        if (SafeFile.Defect(file) is { } defect) throw new ArtifactException($"{file}: {defect}");
        if (!File.Exists(file)) throw new ArtifactException($"{file}: listed in manifest.json but missing");
        using var s = SafeFile.OpenRead(file, file, FileOptions.SequentialScan);
        if (s.Length != bytes)
            throw new ArtifactException($"{file}: {s.Length:N0} bytes, the manifest records {bytes:N0} (truncated or replaced)");
        string actual = Convert.ToHexStringLower(SHA256.HashData(s));
        if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
            throw new ArtifactException($"{file}: sha256 {actual} differs from the manifest's {sha256} (the file changed after export)");
    }
}
