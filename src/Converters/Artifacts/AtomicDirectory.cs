namespace ModelForge.Converters.Artifacts;

/// <summary>A destination the user named is unusable (exists without --force, not writable...): one line.</summary>
public sealed class ArtifactException(string message) : Exception(message);

/// <summary>
/// Writes a folder atomically: everything goes to a temporary sibling folder, which is renamed onto the
/// destination only when complete. A process killed at any moment leaves either no destination or the complete
/// one (plus, at worst, a stale ".partial" sibling that the next run removes). An existing destination is only
/// replaced when <c>force</c> is set.
/// </summary>
public sealed class AtomicDirectory : IDisposable
{
    private bool _committed;

    private AtomicDirectory(string destination, string staging)
    {
        Destination = destination;
        Staging = staging;
    }

    /// <summary>The final folder.</summary>
    public string Destination { get; }

    /// <summary>The temporary folder to write into (same parent, so the final rename stays on one file system).</summary>
    public string Staging { get; }

    public static AtomicDirectory Begin(string destination, bool force)
    {
        destination = Path.GetFullPath(destination.TrimEnd(Path.DirectorySeparatorChar));
        if (File.Exists(destination)) throw new ArtifactException($"{destination}: exists and is a file, not a folder");
        if (Directory.Exists(destination) && !force)
            throw new ArtifactException($"{destination}: already exists (pass --force to replace it)");
        string parent = Path.GetDirectoryName(destination) ?? throw new ArtifactException($"{destination}: has no parent folder");
        try
        {
            Directory.CreateDirectory(parent);
            // Leftovers of killed runs: staging folders, and a replaced destination killed between Commit's two renames.
            foreach (var stale in Directory.EnumerateDirectories(parent, Path.GetFileName(destination) + ".partial-*")
                         .Concat(Directory.EnumerateDirectories(parent, Path.GetFileName(destination) + ".replaced-*")))
                if (!OwnerAlive(stale)) TryDelete(stale);
            string staging = $"{destination}.partial-{Environment.ProcessId}";
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
            Directory.CreateDirectory(staging);
            return new AtomicDirectory(destination, staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArtifactException($"{destination}: cannot write there ({e.Message})");
        }
    }

    /// <summary>Moves the completed staging folder onto the destination (replacing it when forced).</summary>
    public void Commit()
    {
        string? old = null;
        if (Directory.Exists(Destination))
        {
            old = $"{Destination}.replaced-{Environment.ProcessId}";
            Directory.Move(Destination, old);
        }
        Directory.Move(Staging, Destination);
        _committed = true;
        if (old is not null) TryDelete(old);
    }

    public void Dispose()
    {
        if (!_committed) TryDelete(Staging);
    }

    /// <summary>Whether the process that named a staging folder ("...partial-PID") still runs (a concurrent export).</summary>
    private static bool OwnerAlive(string staging)
    {
        string suffix = staging[(staging.LastIndexOf('-') + 1)..];
        if (!int.TryParse(suffix, out int pid) || pid == Environment.ProcessId) return false;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
