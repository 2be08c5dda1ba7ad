using System.Text.Json;
using ModelForge.Converters.IO;

namespace ModelForge.Converters.Artifacts;

/// <summary>
/// Keeps outputs away from inputs: nothing a command writes (an export folder replaced with --force, tokens, reports) may
/// be, contain or lie inside one of the run's inputs, the current folder included. Paths are compared after resolving
/// every symbolic link (and by device + inode for files, so a hard link is seen too). Every refusal is an
/// <see cref="ArtifactException"/>: one line naming the option, the path and the input it would destroy.
/// </summary>
public static class OutputGuard
{
    /// <summary>The manifest format an export folder must declare before --force may replace it.</summary>
    public const string ArtifactFormatPrefix = "modelforge-artifact/";

    /// <summary>
    /// Checks an output folder. <paramref name="inputFiles"/> must not lie in it; <paramref name="inputFolders"/> (inputs
    /// given as folders) must not lie in it; the current folder must not lie in it. With <paramref name="force"/>
    /// (which deletes what is there), the folder must also not lie inside an input folder, and an existing folder is
    /// replaced only when it holds a ModelForge manifest.
    /// </summary>
    public static void CheckFolder(string option, string output, IEnumerable<string> inputFiles, IEnumerable<string> inputFolders,
        bool force)
    {
        string label = $"{option} {output}";
        string dest = Canonical(output, label);
        foreach (var file in inputFiles)
        {
            string f = Canonical(file, file);
            if (Within(f, dest))
                throw new ArtifactException($"{label}: holds {file}, an input of this run; choose another folder (nothing was written)");
        }
        foreach (var folder in inputFolders)
        {
            string d = Canonical(folder, folder);
            if (Within(d, dest))
                throw new ArtifactException($"{label}: holds {folder}, an input of this run; choose another folder (nothing was written)");
            if (force && Within(dest, d))
                throw new ArtifactException($"{label}: lies inside {folder}, an input folder of this run; write the artifact elsewhere");
        }
        string cwd = Canonical(Environment.CurrentDirectory, "current folder");
        if (Within(cwd, dest))
            throw new ArtifactException($"{label}: is the current folder or contains it; choose another folder (nothing was written)");
        if (force && Directory.Exists(dest)) RequireArtifact(label, dest);
    }

    /// <summary>
    /// Checks an output file: not a folder, its folder exists, and it is none of <paramref name="inputs"/> (files, or
    /// folders whose every file counts as an input).
    /// </summary>
    public static void CheckFile(string option, string output, IEnumerable<string> inputs)
    {
        string label = $"{option} {output}";
        string full = Canonical(output, label);
        if (Directory.Exists(full)) throw new ArtifactException($"{label}: is a folder; give a file path");
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || !Directory.Exists(parent)) throw new ArtifactException($"{label}: folder {parent} does not exist");
        var id = SafeFile.Identity(full);
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                string dir = Canonical(input, input);
                if (File.Exists(full) && Within(full, dir))
                    throw new ArtifactException($"{label}: is a file of {input}, an input of this run; choose another path");
                continue;
            }
            if (Canonical(input, input) == full || (id is not null && SafeFile.Identity(input) == id))
                throw new ArtifactException($"{label}: is {input}, an input of this run; choose another path");
        }
    }

    /// <summary>Refuses two options naming the same output file (the second would overwrite the first).</summary>
    public static void CheckDistinct(params (string Option, string? Path)[] outputs)
    {
        var given = outputs.Where(o => o.Path is not null).ToArray();
        for (int i = 0; i < given.Length; i++)
            for (int j = i + 1; j < given.Length; j++)
                if (Canonical(given[i].Path!, given[i].Path!) == Canonical(given[j].Path!, given[j].Path!))
                    throw new ArtifactException($"{given[j].Option} {given[j].Path}: the same file as {given[i].Option}");
    }

    /// <summary>Throws unless <paramref name="dir"/> holds a manifest.json of format modelforge-artifact/*.</summary>
    private static void RequireArtifact(string label, string dir)
    {
        string manifest = Path.Combine(dir, "manifest.json");
        string why = "no manifest.json";
        if (File.Exists(manifest))
        {
            try
            {
                using var doc = JsonDocument.Parse(SafeFile.ReadAllBytes(manifest, 16 << 20, manifest));
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f)
                    && f.ValueKind == JsonValueKind.String && f.GetString()!.StartsWith(ArtifactFormatPrefix, StringComparison.Ordinal))
                    return;
                why = $"manifest.json has no format {ArtifactFormatPrefix}*";
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
            {
                why = "manifest.json is not readable JSON";
            }
        }
        throw new ArtifactException(
            $"{label}: exists and is not a ModelForge artifact ({why}); --force only replaces an earlier export, so move it away yourself");
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies below it (both canonical).</summary>
    private static bool Within(string path, string folder) =>
        path == folder || path.StartsWith(folder.EndsWith('/') ? folder : folder + "/", StringComparison.Ordinal);

    /// <summary>
    /// The absolute path with every symbolic link resolved and "." / ".." applied after resolution (as the kernel does);
    /// missing trailing parts are kept as written. A loop of links is an <see cref="ArtifactException"/>.
    /// </summary>
    public static string Canonical(string path, string label)
    {
        string absolute = Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        var pending = new Stack<string>(absolute.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        string current = "/";
        int links = 0;
        bool missing = false;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            string next = Path.Combine(current, part);
            string? target = missing ? null : new FileInfo(next).LinkTarget;
            if (target is null)
            {
                missing |= !Path.Exists(next);
                current = next;
                continue;
            }
            if (++links > 40) throw new ArtifactException($"{label}: a loop of symbolic links (more than 40 levels)");
            string resolved = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
            foreach (var p in resolved.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
            current = "/";
        }
        return current;
    }
}
