using System.Runtime.InteropServices;

namespace ModelForge.Converters.IO;

/// <summary>
/// One private temporary folder per process ("$TMPDIR/modelforge-tmp-PID-RANDOM", mode 0700) for everything a run writes
/// temporarily (validate's ONNX copies and fresh exports, native libraries' scratch files once TMPDIR points here). It is
/// removed on dispose, at process exit and on SIGTERM/SIGINT/SIGHUP; folders of owners that died without cleaning up (SIGKILL)
/// are swept by the next <see cref="Begin"/>. Nothing is ever written beside the user's files.
/// </summary>
public sealed partial class PrivateTemp : IDisposable
{
    /// <summary>Name prefix of the folders (the PID follows, so a sweep can tell live owners from dead ones).</summary>
    public const string Prefix = "modelforge-tmp-";

    private static readonly object Gate = new();
    private static PrivateTemp? _current;
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _removed;
    private bool _closing;

    private PrivateTemp(string path) => Path = path;

    /// <summary>The folder (full path).</summary>
    public string Path { get; }

    /// <summary>The process's folder, created on first use (without pointing TMPDIR at it) when no <see cref="Begin"/> ran.</summary>
    public static PrivateTemp Current
    {
        get
        {
            lock (Gate) return _current ??= Create(redirectTmpDir: false);
        }
    }

    /// <summary>
    /// Sweeps dead owners' folders, creates this process's folder and, with <paramref name="redirectTmpDir"/>, points TMPDIR
    /// (managed and native, so ONNX Runtime's and libtorch's scratch files land here too) at it. Call once at start.
    /// </summary>
    public static PrivateTemp Begin(bool redirectTmpDir = true)
    {
        lock (Gate)
        {
            _current?.Dispose();
            return _current = Create(redirectTmpDir);
        }
    }

    /// <summary>A new empty folder inside the process's private folder.</summary>
    public static string NewFolder(string stem)
    {
        if (Volatile.Read(ref Current._closing)) throw new OperationCanceledException("terminating on a signal");
        string dir = System.IO.Path.Combine(Current.Path, $"{stem}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Removes folders named <see cref="Prefix"/>PID-* in <paramref name="tempRoot"/> whose process is gone.</summary>
    public static int Sweep(string tempRoot)
    {
        int removed = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(tempRoot, Prefix + "*"))
            {
                string rest = System.IO.Path.GetFileName(dir)[Prefix.Length..];
                int dash = rest.IndexOf('-', StringComparison.Ordinal);
                if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || pid == Environment.ProcessId || Alive(pid)) continue;
                if (TryDelete(dir)) removed++;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return removed;
    }

    private static PrivateTemp Create(bool redirectTmpDir)
    {
        string root = System.IO.Path.GetTempPath();
        Sweep(root);
        string path = System.IO.Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var temp = new PrivateTemp(path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => temp.Remove();
        if (!OperatingSystem.IsWindows())
            foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGHUP })
                temp._signals.Add(PosixSignalRegistration.Create(signal, ctx => temp.OnSignal(ctx)));
        if (redirectTmpDir)
        {
            Environment.SetEnvironmentVariable("TMPDIR", path);
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) SetEnv("TMPDIR", path, 1);
        }
        return temp;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    private static bool Alive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private void Remove()
    {
        if (Interlocked.Exchange(ref _removed, 1) == 0) TryDelete(Path);
    }

    /// <summary>
    /// SIGTERM/SIGINT/SIGHUP: other threads may still be writing into the folder, so no new folder is handed out, the
    /// folder is deleted until it stays gone (a few tries), and the process exits with 128 + the signal number.
    /// </summary>
    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        Volatile.Write(ref _closing, true);
        for (int i = 0; i < 5 && Directory.Exists(Path); i++)
        {
            TryDelete(Path);
            Thread.Sleep(20);
        }
        Interlocked.Exchange(ref _removed, 1);
        int code = context.Signal switch { PosixSignal.SIGINT => 130, PosixSignal.SIGHUP => 129, _ => 143 };
        Environment.Exit(code);
    }

    private static bool TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Removes the folder and its signal handlers.</summary>
    public void Dispose()
    {
        Remove();
        foreach (var s in _signals) s.Dispose();
        _signals.Clear();
    }
}
