using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ModelForge.Converters.Bundles;

/// <summary>What one trtexec run did: exit code (null = killed at the time limit), its output, the TensorRT version it printed.</summary>
public sealed record TrtexecRun(int? ExitCode, string Output, string? TensorRtVersion, bool StandIn, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The last line that reads like an error, for a one-line message.</summary>
    public string LastError
    {
        get
        {
            var lines = Output.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
            return lines.LastOrDefault(l => l.Contains("[E]", StringComparison.Ordinal))
                ?? lines.LastOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))
                ?? lines.LastOrDefault() ?? "(no output)";
        }
    }
}

/// <summary>
/// Finds and runs NVIDIA's trtexec (a process boundary: TensorRT itself is never linked). Output is captured (capped),
/// time bounded, and the TensorRT version read from trtexec's banner ("&amp;&amp;&amp;&amp; RUNNING TensorRT.trtexec [TensorRT v100300]"
/// or "[I] TensorRT version: 10.3.0"). A test stand-in announces itself with a line "&amp;&amp;&amp;&amp; STAND-IN"; whatever it writes is
/// bookkeeping, never an engine (see <see cref="TrtexecRun.StandIn"/>).
/// </summary>
public static partial class Trtexec
{
    /// <summary>The marker line a stand-in trtexec (tests) prints; ModelForge never counts such a run as an engine build.</summary>
    public const string StandInMarker = "&&&& STAND-IN";

    private const int OutputCap = 4 << 20;

    /// <summary>The trtexec to use: the given path (must exist and be executable), else trtexec on PATH, else null.</summary>
    public static string? Locate(string? given)
    {
        if (given is not null)
        {
            string full = Path.GetFullPath(given);
            if (Directory.Exists(full)) full = Path.Combine(full, "trtexec");
            if (!File.Exists(full)) throw new FileNotFoundException($"--trtexec {given}: file not found");
            if (!OperatingSystem.IsWindows()
                && (File.GetUnixFileMode(full) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
                throw new ArgumentException($"--trtexec {given}: not executable");
            return full;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "trtexec");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Runs trtexec with <paramref name="args"/> in <paramref name="workDir"/>, killing it after
    /// <paramref name="limit"/>.</summary>
    public static TrtexecRun Run(string trtexec, IEnumerable<string> args, string workDir, TimeSpan limit)
    {
        var psi = new ProcessStartInfo(trtexec) { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var output = new StringBuilder();
        void Append(string? line)
        {
            if (line is null) return;
            lock (output)
                if (output.Length < OutputCap) output.Append(line).Append('\n');
        }
        var clock = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ArgumentException($"{trtexec}: cannot be started ({e.Message})");
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        int? exit = null;
        if (p.WaitForExit(limit))
        {
            p.WaitForExit(); // drains the redirected streams
            exit = p.ExitCode;
        }
        else
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Append($"modelforge: trtexec killed after {limit.TotalSeconds:F0} s");
        }
        string text;
        lock (output) text = output.ToString();
        return new TrtexecRun(exit, text, ParseVersion(text), text.Contains(StandInMarker, StringComparison.Ordinal), clock.Elapsed);
    }

    /// <summary>"10.3.0" from "[TensorRT v100300]" (major*10000 + minor*100 + patch; 8.x: v8601) or "TensorRT version: 10.3.0".</summary>
    public static string? ParseVersion(string output)
    {
        if (VersionLine().Match(output) is { Success: true } m) return m.Groups[1].Value;
        if (Banner().Match(output) is not { Success: true } b) return null;
        int v = int.Parse(b.Groups[1].Value, CultureInfo.InvariantCulture);
        return v >= 10000 ? $"{v / 10000}.{v / 100 % 100}.{v % 100}" : $"{v / 1000}.{v / 100 % 10}.{v % 100}";
    }

    [GeneratedRegex(@"TensorRT version:\s*([0-9]+(?:\.[0-9]+){1,3})")]
    private static partial Regex VersionLine();

    [GeneratedRegex(@"\[TensorRT v([0-9]{4,6})\]")]
    private static partial Regex Banner();
}
