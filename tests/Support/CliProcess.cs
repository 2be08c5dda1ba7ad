using System.Diagnostics;

namespace ModelForge.Tests.Support;

/// <summary>Runs the CLI in a chosen working folder, or starts several at once (concurrency tests); every wait is bounded.</summary>
public static class CliProcess
{
    public static CliResult RunIn(string workingDirectory, params string[] args)
    {
        var psi = Cli.StartInfo(args);
        psi.WorkingDirectory = workingDirectory;
        return Wait(Process.Start(psi)!, TimeSpan.FromMinutes(3), args);
    }

    /// <summary>Starts every command line at the same moment and waits for all of them.</summary>
    public static CliResult[] RunTogether(params string[][] commands)
    {
        var processes = commands.Select(a => Process.Start(Cli.StartInfo(a))!).ToArray();
        return processes.Select((p, i) => Wait(p, TimeSpan.FromMinutes(3), commands[i])).ToArray();
    }

    private static CliResult Wait(Process p, TimeSpan timeout, string[] args)
    {
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"modelforge {string.Join(' ', args)} did not finish in {timeout}");
            }
            return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
