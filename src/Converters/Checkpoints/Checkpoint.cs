namespace ModelForge.Converters.Checkpoints;

/// <summary>
/// A checkpoint: a single .safetensors file, a folder with model.safetensors, a sharded folder with
/// model.safetensors.index.json (or any *.safetensors.index.json), or the index file path itself.
/// All shards are opened (headers validated, files mapped) at <see cref="Open"/>; data is read on demand.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    private readonly IReadOnlyList<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    private Checkpoint(string path, IReadOnlyList<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Path = path;
        _files = files;
        _owner = owner;
        Tensors = owner.Select(kv => kv.Value.Get(kv.Key)).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Full path of what was opened (file, folder or index file).</summary>
    public string Path { get; }

    /// <summary>Every file this checkpoint was read from: the shards, and the index or file that was opened.</summary>
    public IReadOnlyList<string> Files => [.. _files.Select(f => f.Path).Append(Path).Where(File.Exists).Distinct()];

    /// <summary>All tensors of all shards, sorted by name (ordinal).</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Opens a checkpoint file, folder or index; see the class summary for the accepted layouts.</summary>
    /// <exception cref="CheckpointFormatException">
    /// Nothing there, no checkpoint in the folder, a malformed file or index, a shard that is missing or outside the
    /// index's folder, or shards that disagree with the weight_map. The message is one line naming the file at fault.
    /// </exception>
    public static Checkpoint Open(string path, SafetensorsLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        limits ??= SafetensorsLimits.Default;
        limits.Validate();
        string full = System.IO.Path.GetFullPath(path);
        if (IO.SafeFile.KindOf(full) is var kind && kind is not (IO.FileKind.Regular or IO.FileKind.Directory or IO.FileKind.Missing))
            throw new CheckpointFormatException(full, IO.SafeFile.Defect(full)!);
        if (Directory.Exists(full))
        {
            var (file, isIndex) = FindInFolder(full);
            return isIndex ? OpenIndexed(full, file, limits) : OpenSingle(full, file, limits);
        }
        if (File.Exists(full))
        {
            RefusePickle(full);
            return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? OpenIndexed(full, full, limits)
                : OpenSingle(full, full, limits);
        }
        throw new CheckpointFormatException(full, "no such file or folder");
    }

    /// <summary>
    /// PyTorch pickle checkpoints (.bin/.pt/.pth/.ckpt, or any file starting with a pickle or zip header) can execute
    /// code when loaded; ModelForge never reads them.
    /// </summary>
    private static void RefusePickle(string file)
    {
        string ext = System.IO.Path.GetExtension(file).ToLowerInvariant();
        Span<byte> head = stackalloc byte[2];
        int n;
        using (var s = File.OpenRead(file)) n = s.ReadAtLeast(head, 2, throwOnEndOfStream: false);
        // Magic bytes only decide for files not named .safetensors/.json: a safetensors header length can start with them.
        bool named = ext is ".safetensors" or ".json";
        bool pickle = !named && n == 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5;
        bool zip = !named && n == 2 && head[0] == (byte)'P' && head[1] == (byte)'K';
        if (ext is ".bin" or ".pt" or ".pth" or ".ckpt" or ".pkl" || pickle || zip)
            throw new CheckpointFormatException(file, "looks like a PyTorch pickle/zip checkpoint, which can run code when loaded "
                + "and is never read; convert it to .safetensors (e.g. with the safetensors convert script) and pass that");
    }

    /// <summary>Whether any shard holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message names it and the checkpoint.</exception>
    public TensorInfo Get(string name) => Owner(name).Get(name);

    /// <summary>The tensor's raw little-endian bytes, straight from its shard's map. Valid until Dispose.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => Owner(name).GetBytes(name);

    /// <summary>Raw bytes of the tensor from byte <paramref name="offset"/> on into <paramref name="destination"/> (reused).</summary>
    public void ReadBytes(string name, long offset, Span<byte> destination) => Owner(name).ReadBytes(name, offset, destination);

    /// <summary>Converts the tensor to float32 into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    public void ReadAsFloat32(string name, Span<float> destination) => Owner(name).ReadAsFloat32(name, destination);

    /// <summary>Converts the tensor to a new float32 array.</summary>
    public float[] ReadAsFloat32(string name) => Owner(name).ReadAsFloat32(name);

    /// <summary>Full path of the shard file that holds the tensor.</summary>
    public string FileOf(string name) => Owner(name).Path;

    /// <summary>Releases every shard's map.</summary>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    private SafetensorsFile Owner(string name) =>
        _owner.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    private static (string File, bool IsIndex) FindInFolder(string folder)
    {
        string index = System.IO.Path.Combine(folder, "model.safetensors.index.json");
        if (File.Exists(index)) return (index, true);
        string single = System.IO.Path.Combine(folder, "model.safetensors");
        if (File.Exists(single)) return (single, false);
        var indexes = Sorted(Directory.GetFiles(folder, "*.safetensors.index.json"));
        if (indexes.Length == 1) return (indexes[0], true);
        if (indexes.Length > 1)
            throw new CheckpointFormatException(folder,
                $"several index files ({string.Join(", ", indexes.Select(System.IO.Path.GetFileName))}); open one of them");
        var files = Sorted(Directory.GetFiles(folder, "*.safetensors"));
        if (files.Length == 1) return (files[0], false);
        if (files.Length > 1)
            throw new CheckpointFormatException(folder, "several .safetensors files and no *.safetensors.index.json "
                + $"({string.Join(", ", files.Select(System.IO.Path.GetFileName))})");
        throw new CheckpointFormatException(folder, "no model.safetensors, *.safetensors.index.json or *.safetensors file in this folder");
    }

    private static string[] Sorted(string[] paths)
    {
        Array.Sort(paths, StringComparer.Ordinal);
        return paths;
    }

    private static Checkpoint OpenSingle(string path, string file, SafetensorsLimits limits)
    {
        var f = SafetensorsFile.Open(file, limits);
        var owner = new Dictionary<string, SafetensorsFile>(f.Tensors.Count, StringComparer.Ordinal);
        foreach (var t in f.Tensors) owner.Add(t.Name, f);
        return new Checkpoint(path, [f], owner);
    }

    private static Checkpoint OpenIndexed(string path, string indexPath, SafetensorsLimits limits)
    {
        var weightMap = ShardIndex.Read(indexPath, limits);
        string folder = System.IO.Path.GetDirectoryName(indexPath)!;
        // shard -> its first tensor (ordinal), so errors about a shard can name a tensor that needs it.
        var firstTensor = weightMap.GroupBy(kv => kv.Value, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(kv => kv.Key).Min(StringComparer.Ordinal)!, StringComparer.Ordinal);
        var shardNames = firstTensor.Keys.Order(StringComparer.Ordinal).ToList();
        var opened = new List<SafetensorsFile>();
        try
        {
            var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (string shard in shardNames)
            {
                string file = ShardIndex.ResolveShard(indexPath, folder, shard, firstTensor[shard]);
                var f = SafetensorsFile.Open(file, limits);
                opened.Add(f);
                byName.Add(shard, f);
            }
            var owner = CrossCheck(indexPath, weightMap, byName);
            return new Checkpoint(path, opened, owner);
        }
        catch
        {
            foreach (var f in opened) f.Dispose();
            throw;
        }
    }

    /// <summary>Every tensor in exactly one shard, and that shard the one the weight_map names.</summary>
    private static Dictionary<string, SafetensorsFile> CrossCheck(
        string indexPath, Dictionary<string, string> weightMap, Dictionary<string, SafetensorsFile> shards)
    {
        var owner = new Dictionary<string, SafetensorsFile>(weightMap.Count, StringComparer.Ordinal);
        var ownerShard = new Dictionary<string, string>(weightMap.Count, StringComparer.Ordinal);
        foreach (var (shard, file) in shards.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            foreach (var t in file.Tensors)
            {
                if (ownerShard.TryGetValue(t.Name, out string? other))
                    throw new CheckpointFormatException(indexPath, $"tensor '{t.Name}' is in two shards, '{other}' and '{shard}'");
                if (!weightMap.TryGetValue(t.Name, out string? mapped))
                    throw new CheckpointFormatException(indexPath,
                        $"tensor '{t.Name}' is in shard '{shard}' but not in the weight_map (mismatch)");
                if (mapped != shard)
                {
                    if (shards[mapped].Contains(t.Name))
                        throw new CheckpointFormatException(indexPath, $"tensor '{t.Name}' is in two shards, '{shard}' and '{mapped}'");
                    throw new CheckpointFormatException(indexPath,
                        $"tensor '{t.Name}' is in shard '{shard}' but the weight_map puts it in '{mapped}' (mismatch)");
                }
                ownerShard.Add(t.Name, shard);
                owner.Add(t.Name, file);
            }
        }
        foreach (var (name, shard) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!owner.ContainsKey(name))
                throw new CheckpointFormatException(indexPath,
                    $"tensor '{name}' is listed in the weight_map for shard '{shard}', but that shard does not hold it (mismatch)");
        }
        return owner;
    }
}
