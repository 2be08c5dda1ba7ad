using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelForge.Tests.Support;

/// <summary>Result of one `modelforge` process run.</summary>
public sealed partial record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    /// <summary>stderr without the timestamped progress lines ("[HH:mm:ss.fff] phase ...") that long steps print when redirected.</summary>
    public string Errors => string.Join('\n', Stderr.Split('\n').Where(l => !ProgressLine().IsMatch(l)));

    /// <summary>The progress lines of stderr.</summary>
    public IReadOnlyList<string> ProgressLines => Stderr.Split('\n').Where(l => ProgressLine().IsMatch(l)).ToArray();

    [GeneratedRegex(@"^\[\d\d:\d\d:\d\d\.\d{3}\] ")]
    private static partial Regex ProgressLine();
}

/// <summary>Runs the real `modelforge` CLI (the built modelforge.dll beside the tests) as a separate process.</summary>
public static class Cli
{
    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "modelforge.dll");

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        return psi;
    }

    public static CliResult Run(params string[] args) => Run(TimeSpan.FromMinutes(5), args);

    public static CliResult Run(TimeSpan timeout, params string[] args) => Run(StartInfo(args), timeout);

    /// <summary>Runs with environment changes (a null value removes the variable, e.g. COLUMNS to see the pipe default).</summary>
    public static CliResult RunWithEnv(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var psi = StartInfo(args);
        foreach (var (k, v) in env)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        return Run(psi, TimeSpan.FromMinutes(5));
    }

    private static CliResult Run(ProcessStartInfo psi, TimeSpan timeout)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"modelforge {string.Join(' ', psi.ArgumentList.Skip(1))} did not finish in {timeout}");
        }
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}
