using System.Text.Json;

namespace ModelForge.Converters.Checkpoints;

/// <summary>
/// Reads a sharded checkpoint's index ({"metadata": {...}, "weight_map": {"tensor": "shard file"}}) and resolves shard
/// names, refusing any that would leave the index's folder.
/// </summary>
internal static class ShardIndex
{
    /// <summary>The weight_map, tensor name -> shard file name; duplicate tensor names are refused.</summary>
    public static Dictionary<string, string> Read(string indexPath, SafetensorsLimits limits)
    {
        byte[] json;
        if (IO.SafeFile.Defect(indexPath) is { } defect) throw new CheckpointFormatException(indexPath, defect);
        try
        {
            long length = new FileInfo(indexPath).Length;
            if (length > limits.MaxHeaderBytes)
                throw new CheckpointFormatException(indexPath, $"index file is {length} bytes, over the limit of {limits.MaxHeaderBytes}");
            json = IO.SafeFile.ReadAllBytes(indexPath, limits.MaxHeaderBytes, indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(indexPath, $"cannot read the index ({e.Message})", e);
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawWeightMap = false;
        try
        {
            var r = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = limits.MaxJsonDepth });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
                throw new CheckpointFormatException(indexPath, "index is not a JSON object");
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                string key = r.GetString()!;
                r.Read();
                if (key != "weight_map")
                {
                    r.Skip(); // "metadata" (which may hold numbers such as total_size) and anything else
                    continue;
                }
                if (sawWeightMap) throw new CheckpointFormatException(indexPath, "index has two weight_map entries");
                sawWeightMap = true;
                if (r.TokenType != JsonTokenType.StartObject)
                    throw new CheckpointFormatException(indexPath, "weight_map is not an object of tensor name -> shard file");
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    string tensor = r.GetString()!;
                    r.Read();
                    if (r.TokenType != JsonTokenType.String)
                        throw new CheckpointFormatException(indexPath, $"tensor '{tensor}': weight_map value is not a shard file name");
                    if (map.Count >= limits.MaxTensors)
                        throw new CheckpointFormatException(indexPath,
                            $"weight_map has more than the limit of {limits.MaxTensors} tensors");
                    if (!map.TryAdd(tensor, r.GetString()!))
                        throw new CheckpointFormatException(indexPath, $"tensor '{tensor}' appears twice in the weight_map");
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new CheckpointFormatException(indexPath, $"index is not valid JSON ({e.Message})", e);
        }
        if (!sawWeightMap) throw new CheckpointFormatException(indexPath, "index has no weight_map");
        return map;
    }

    /// <summary>
    /// Full path of <paramref name="shard"/>: a plain file name in <paramref name="folder"/>, existing, and (after symbolic
    /// links) still inside the folder. The one exception is the Hugging Face hub cache, where snapshots/&lt;rev&gt;/file
    /// links into the repository's blobs/ folder.
    /// </summary>
    public static string ResolveShard(string indexPath, string folder, string shard, string forTensor)
    {
        string Why(string defect) => $"shard '{shard}' (holding tensor '{forTensor}') {defect}";
        if (shard.Length == 0 || shard is "." or ".." || System.IO.Path.IsPathRooted(shard)
            || shard.Contains('/') || shard.Contains('\\') || shard.Contains('\0'))
            throw new CheckpointFormatException(indexPath,
                Why("is not a plain file name inside the index's folder (refused: it could escape the folder)"));
        string prefix = System.IO.Path.TrimEndingDirectorySeparator(folder) + System.IO.Path.DirectorySeparatorChar;
        string full = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, shard));
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
            throw new CheckpointFormatException(indexPath, Why("resolves outside the index's folder (refused)"));
        if (!File.Exists(full))
            throw new CheckpointFormatException(indexPath, Why($"is missing: no file {full}"));

        string real;
        try
        {
            real = RealPath(full);
        }
        catch (IOException e)
        {
            throw new CheckpointFormatException(indexPath, Why($"cannot be resolved ({e.Message})"), e);
        }
        if (real.StartsWith(RealPrefix(folder), StringComparison.Ordinal)) return full;
        string? rev = System.IO.Path.GetDirectoryName(System.IO.Path.TrimEndingDirectorySeparator(folder));
        if (rev is not null && System.IO.Path.GetFileName(rev) == "snapshots")
        {
            string blobs = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(rev)!, "blobs");
            if (Directory.Exists(blobs) && real.StartsWith(RealPrefix(blobs), StringComparison.Ordinal)) return full;
        }
        throw new CheckpointFormatException(indexPath, Why($"is a link to {real}, outside the index's folder (refused)"));
    }

    private static string RealPrefix(string folder) =>
        System.IO.Path.TrimEndingDirectorySeparator(RealPath(folder)) + System.IO.Path.DirectorySeparatorChar;

    /// <summary>The path with every symbolic link along it resolved (like realpath(3)).</summary>
    private static string RealPath(string path, int depth = 0)
    {
        if (depth > 40) throw new IOException($"too many levels of symbolic links at {path}");
        string full = System.IO.Path.GetFullPath(path);
        string root = System.IO.Path.GetPathRoot(full)!;
        string current = root;
        foreach (string part in full[root.Length..].Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = System.IO.Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true)
                    ?? throw new IOException($"cannot resolve the link {next}");
                next = RealPath(target.FullName, depth + 1);
            }
            current = next;
        }
        return current;
    }
}
