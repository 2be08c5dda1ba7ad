using System.Runtime.InteropServices;

namespace ModelForge.Converters.Artifacts;

/// <summary>A destination the user named is unusable (exists without --force, not writable...): one line.</summary>
public sealed class ArtifactException(string message) : Exception(message);

/// <summary>
/// Writes a folder atomically: everything goes to a temporary sibling folder, which is renamed onto the
/// destination only when complete. A process killed at any moment leaves either no destination or the complete
/// one (plus, at worst, a stale ".partial" sibling that the next run removes). An existing destination is only
/// replaced when <c>force</c> is set.
/// </summary>
public sealed partial class AtomicDirectory : IDisposable
{
    private bool _committed;
    private readonly bool _force;

    private AtomicDirectory(string destination, string staging, bool force)
    {
        _force = force;
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
            return new AtomicDirectory(destination, staging, force);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArtifactException($"{destination}: cannot write there ({e.Message})");
        }
    }

    /// <summary>
    /// Moves the completed staging folder onto the destination (replacing it when forced). Without force the rename
    /// itself refuses an existing destination (renameat2 RENAME_NOREPLACE), so of two exports racing to one folder
    /// exactly one wins and the other reports "already exists", however their checks at start interleaved.
    /// </summary>
    public void Commit()
    {
        if (!_force)
        {
            if (File.Exists(Destination) || Directory.Exists(Destination) || !RenameNoReplace(Staging, Destination))
                throw new ArtifactException($"{Destination}: already exists (another export finished first; pass --force to replace it)");
            _committed = true;
            return;
        }
        string? old = null;
        try
        {
            if (Directory.Exists(Destination))
            {
                old = $"{Destination}.replaced-{Environment.ProcessId}";
                Directory.Move(Destination, old);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A mount point (EBUSY), a read-only parent...: the old export is untouched.
            throw new ArtifactException(
                $"{Destination}: cannot be replaced ({e.Message}; is it a mount point?); the existing export was kept");
        }
        Directory.Move(Staging, Destination);
        _committed = true;
        if (old is not null) TryDelete(old);
    }

    /// <summary>One line for a failed write into the staging folder ("no space left on the device" for ENOSPC).</summary>
    public static ArtifactException WriteFailure(string destination, IOException e) =>
        new(e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
            ? $"{destination}: no space left on the device while writing the export; nothing was changed (the partial copy was removed)"
            : $"{destination}: cannot write the export ({e.Message}); nothing was changed");

    private const int AtFdCwd = -100;
    private const uint RenameNoReplaceFlag = 1;

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDir, string oldPath, int newDir, string newPath, uint flags);

    /// <summary>rename(2) that fails when the target exists; false when it did. Falls back to a checked move where unsupported.</summary>
    private static bool RenameNoReplace(string from, string to)
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                if (RenameAt2(AtFdCwd, from, AtFdCwd, to, RenameNoReplaceFlag) == 0) return true;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == 17) return false; // EEXIST
                if (errno is not (22 or 38 or 95)) // not EINVAL / ENOSYS / EOPNOTSUPP (file system without the flag)
                    throw new ArtifactException(
                        $"{to}: cannot move the finished export into place ({Marshal.GetPInvokeErrorMessage(errno)})");
            }
            catch (EntryPointNotFoundException)
            {
            }
        }
        if (Directory.Exists(to) || File.Exists(to)) return false;
        Directory.Move(from, to);
        return true;
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
