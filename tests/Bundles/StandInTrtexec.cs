using System.Diagnostics;
using ModelForge.Tests.Support;

namespace ModelForge.Tests.Bundles;

/// <summary>
/// A STAND-IN for NVIDIA's trtexec (no TensorRT exists on these machines): a bash script that records its arguments,
/// writes the files trtexec would (engine, timing cache, --exportOutput JSON from a prepared file), prints a banner
/// shaped like trtexec's and the stand-in marker line. It checks ModelForge's argument passing and bookkeeping only;
/// it is never evidence that an engine was built (ModelForge reports "engine: not built" for it).
/// </summary>
public sealed class StandInTrtexec : IDisposable
{
    private readonly TempDir _dir = new();

    public StandInTrtexec(int exitCode = 0)
    {
        File.WriteAllText(Path, $$"""
            #!/usr/bin/env bash
            # STAND-IN trtexec written by ModelForge tests: not TensorRT.
            trap 'echo "--- end of call" >> "$STANDIN_LOG"' EXIT
            printf '%s\n' "$@" >> "$STANDIN_LOG"
            echo "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec $*"
            echo "&&&& STAND-IN (ModelForge test double, not TensorRT)"
            for a in "$@"; do
              case "$a" in
                --saveEngine=*) printf 'stand-in engine, not a TensorRT plan\n' > "${a#--saveEngine=}" ;;
                --timingCacheFile=*) printf 'stand-in timing cache\n' > "${a#--timingCacheFile=}" ;;
                --exportOutput=*) cp "$STANDIN_OUTPUTS" "${a#--exportOutput=}" ;;
                --loadInputs=*) spec="${a#--loadInputs=}"; f="${spec#*:}"; echo "input-bytes $(stat -c %s "$f")" >> "$STANDIN_LOG" ;;
              esac
            done
            if [ {{exitCode}} -ne 0 ]; then echo "[E] Error[4]: stand-in parse failure"; echo "&&&& FAILED"; exit {{exitCode}}; fi
            echo "&&&& PASSED TensorRT.trtexec [TensorRT v100300]"
            """.Replace("\r\n", "\n"));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Outputs,
            "[\n  { \"name\" : \"global_view_tokens\"\n  , \"dimensions\" : \"1x2x2\"\n  , \"values\" : [ 0, 0.5, 1, 1.5 ]\n  }\n]\n");
    }

    public string Path => _dir.File("trtexec");

    public string Log => _dir.File("argv.log");

    public string Outputs => _dir.File("outputs.json");

    /// <summary>The argument lists of every call, in order.</summary>
    public IReadOnlyList<string[]> Calls() => !File.Exists(Log) ? [] :
        File.ReadAllText(Log).Split("--- end of call\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(c => c.Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToArray();

    /// <summary>Runs the real modelforge CLI with this stand-in's environment.</summary>
    public CliResult Run(params string[] args)
    {
        var psi = Support.Cli.StartInfo(args);
        psi.Environment["STANDIN_LOG"] = Log;
        psi.Environment["STANDIN_OUTPUTS"] = Outputs;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("modelforge did not finish");
        }
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose() => _dir.Dispose();
}
