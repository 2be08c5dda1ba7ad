using System.Text.Json;
using ModelForge.Converters.Bundles;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;

namespace ModelForge.Validators.Bundles;

/// <summary>One part of a bundle as its manifest describes it.</summary>
public sealed record BundlePart(string Name, string Onnx, string Engine, BuildRequest Request);

/// <summary>A bundle folder opened for inspect / validate: its parsed manifest (hashes not yet checked).</summary>
public sealed class BundleReader : IDisposable
{
    private readonly JsonDocument _doc;

    private BundleReader(string dir, JsonDocument doc)
    {
        Dir = dir;
        _doc = doc;
    }

    public string Dir { get; }

    public JsonElement Manifest => _doc.RootElement;

    /// <summary>Whether <paramref name="dir"/> holds a bundle manifest (format modelforge-bundle/...).</summary>
    public static bool IsBundle(string dir)
    {
        string m = Path.Combine(dir, BundleFiles.ManifestName);
        if (!Directory.Exists(dir) || !File.Exists(m) || new FileInfo(m).Length > 64 << 20) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(m), new JsonDocumentOptions { MaxDepth = 64 });
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f)
                && f.ValueKind == JsonValueKind.String && f.GetString()!.StartsWith("modelforge-bundle/", StringComparison.Ordinal);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Opens a bundle; ArgumentException with one line when it is none or its manifest is garbled.</summary>
    public static BundleReader Open(string dir)
    {
        dir = Path.GetFullPath(dir);
        string m = Path.Combine(dir, BundleFiles.ManifestName);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: bundle folder not found");
        if (!File.Exists(m)) throw new FileNotFoundException($"{dir}: no {BundleFiles.ManifestName}, not a ModelForge bundle");
        if (new FileInfo(m).Length > 64 << 20) throw new ArgumentException($"{m}: larger than 64 MiB, not a bundle manifest");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(m), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{m}: not valid JSON ({e.Message.Split('.')[0]})");
        }
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var f) || f.GetString() != BundleFiles.Format)
        {
            doc.Dispose();
            throw new ArgumentException($"{m}: not a {BundleFiles.Format} manifest");
        }
        return new BundleReader(dir, doc);
    }

    public string String(string name) =>
        Manifest.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Malformed(name);

    public Architecture Architecture => ArchitectureRegistry.Get(String("architecture"));

    public JsonElement Config => Manifest.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object ? c
        : throw Malformed("config");

    /// <summary>Whether the ONNX carries the precision plan (manifest precision.plan_in_onnx).</summary>
    public bool PlanInOnnx => Manifest.TryGetProperty("precision", out var p) && p.TryGetProperty("plan_in_onnx", out var v)
        && v.ValueKind == JsonValueKind.True;

    public string Precision => Manifest.TryGetProperty("precision", out var p) && p.TryGetProperty("requested", out var r)
        ? r.GetString() ?? "fp32" : "fp32";

    public IReadOnlyDictionary<string, AxisRange> Profiles =>
        Manifest.TryGetProperty("profiles", out var p) && p.ValueKind == JsonValueKind.Object
            && p.EnumerateObject().All(a => a.Value.ValueKind == JsonValueKind.Object
                && new[] { "min", "opt", "max" }.All(k => a.Value.TryGetProperty(k, out var n) && n.TryGetInt64(out _)))
            ? p.EnumerateObject().ToDictionary(a => a.Name,
                a => new AxisRange(a.Value.GetProperty("min").GetInt64(), a.Value.GetProperty("opt").GetInt64(),
                    a.Value.GetProperty("max").GetInt64()))
            : throw Malformed("profiles");

    public IReadOnlyList<BundlePart> Parts
    {
        get
        {
            if (!Manifest.TryGetProperty("parts", out var parts) || parts.ValueKind != JsonValueKind.Array) throw Malformed("parts");
            try
            {
                return parts.EnumerateArray().Select(p =>
                {
                    var b = p.GetProperty("build_request");
                    int? size = b.GetProperty("image_size").ValueKind == JsonValueKind.Number ? b.GetProperty("image_size").GetInt32()
                        : null;
                    return new BundlePart(p.GetProperty("name").GetString()!, p.GetProperty("onnx").GetString()!,
                        p.GetProperty("engine").GetString()!,
                        new BuildRequest(size, b.GetProperty("batch_symbol").GetString()!, Tiles: b.GetProperty("tiles").GetBoolean()));
                }).ToArray();
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw Malformed("parts");
            }
        }
    }

    /// <summary>
    /// Checks that <paramref name="checkpoint"/> holds exactly the tensors the bundle was made from (SHA-256 per tensor);
    /// returns the first difference in one line, or null.
    /// </summary>
    public string? CheckpointDifference(Checkpoint checkpoint)
    {
        if (!Manifest.TryGetProperty("checkpoint", out var c) || !c.TryGetProperty("tensor_sha256", out var tensors))
            throw Malformed("checkpoint");
        foreach (var t in tensors.EnumerateObject())
        {
            if (!checkpoint.Contains(t.Name)) return $"tensor {t.Name} is missing from {checkpoint.Path}";
            string actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(checkpoint.GetBytes(t.Name)));
            string expected = t.Value.GetString() ?? "";
            if (actual != expected)
                return $"tensor {t.Name} of {checkpoint.Path} differs from the one the bundle was exported from "
                    + $"(SHA-256 {actual[..12]}..., manifest {expected[..Math.Min(12, expected.Length)]}...)";
        }
        return null;
    }

    private ArgumentException Malformed(string field)
        => new($"{Path.Combine(Dir, BundleFiles.ManifestName)}: field \"{field}\" missing or malformed");

    public void Dispose() => _doc.Dispose();
}
