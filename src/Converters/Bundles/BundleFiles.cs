using System.Security.Cryptography;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Bundles;

/// <summary>One file of a bundle as the manifest lists it (path relative to the bundle, '/' separated).</summary>
public sealed record BundleFile(string Name, long Bytes, string Sha256);

/// <summary>A file that does not match the manifest (or is missing), in one line.</summary>
public sealed record BundleFileProblem(string Name, string Problem)
{
    public override string ToString() => $"{Name}: {Problem}";
}

/// <summary>SHA-256 bookkeeping of bundles: every file, and the checkpoint tensors a bundle was exported from.</summary>
public static class BundleFiles
{
    public const string ManifestName = "manifest.json";
    public const string Format = "modelforge-bundle/1";

    public static string Sha256(string file)
    {
        using var s = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>Every file under <paramref name="dir"/> except the manifest, in ordinal order of their relative paths.</summary>
    public static IReadOnlyList<BundleFile> List(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => (Full: f, Rel: Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/')))
            .Where(f => f.Rel != ManifestName)
            .OrderBy(f => f.Rel, StringComparer.Ordinal)
            .Select(f => new BundleFile(f.Rel, new FileInfo(f.Full).Length, Sha256(f.Full)))
            .ToArray();

    /// <summary>
    /// Checks every file the manifest lists (present, size, SHA-256). Files the manifest does not list are returned
    /// separately: an engine built later by build_engine.sh is one, and not an error.
    /// </summary>
    public static (IReadOnlyList<BundleFileProblem> Problems, IReadOnlyList<string> Unlisted) Verify(string dir, JsonElement manifest)
    {
        var problems = new List<BundleFileProblem>();
        var listed = new HashSet<string>(StringComparer.Ordinal);
        if (!manifest.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array)
            return ([new BundleFileProblem(ManifestName, "has no \"files\" list")], []);
        foreach (var f in files.EnumerateArray())
        {
            string? name = f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            string? sha = f.TryGetProperty("sha256", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString() : null;
            long bytes = f.TryGetProperty("bytes", out var b) && b.TryGetInt64(out long v) ? v : -1;
            if (name is null || sha is null || bytes < 0 || name.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(name))
            {
                problems.Add(new BundleFileProblem(ManifestName, $"malformed file entry {f.GetRawText()}"));
                continue;
            }
            listed.Add(name);
            string path = Path.Combine(dir, name);
            if (!File.Exists(path)) problems.Add(new BundleFileProblem(name, "missing"));
            else if (new FileInfo(path).Length != bytes)
                problems.Add(new BundleFileProblem(name, $"{new FileInfo(path).Length} bytes, the manifest says {bytes}"));
            else if (Sha256(path) is var actual && actual != sha)
                problems.Add(new BundleFileProblem(name, $"SHA-256 {actual} differs from the manifest's {sha} (the file was changed)"));
        }
        var unlisted = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(r => r != ManifestName && !listed.Contains(r)).Order(StringComparer.Ordinal).ToArray();
        return (problems, unlisted);
    }

    /// <summary>
    /// SHA-256 of the bytes of every checkpoint tensor the graphs read (by checkpoint name, ordinal order), and one digest
    /// over the "name sha256" lines, so a bundle names exactly the weights it was made from.
    /// </summary>
    public static (SortedDictionary<string, string> Tensors, string Digest) CheckpointTensors(
        Checkpoint checkpoint, CheckpointAdapter adapter, IEnumerable<Graph> graphs)
    {
        var names = new SortedSet<string>(graphs.SelectMany(g => g.DeclaredWeights.Keys).Select(adapter.ToCheckpointKey),
            StringComparer.Ordinal);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in names.Where(checkpoint.Contains))
            result[name] = Convert.ToHexStringLower(SHA256.HashData(checkpoint.GetBytes(name)));
        return (result, Digest(result));
    }

    /// <summary>The digest over "name sha256\n" lines (what the manifest's checkpoint.sha256 holds).</summary>
    public static string Digest(IEnumerable<KeyValuePair<string, string>> tensors) =>
        Convert.ToHexStringLower(
            SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Concat(tensors.Select(t => $"{t.Key} {t.Value}\n")))));
}
