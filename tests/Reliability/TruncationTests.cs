using System.Diagnostics;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.5: a checkpoint truncated by another program while an export reads it gives one line naming the file and exit
/// 2 (never SIGBUS, which a memory-mapped read of the vanished pages raises), and the staging folder is removed. The
/// truncation is triggered by the child's own progress line "built ..." (the checkpoint is open, no tensor read yet).
/// </summary>
public sealed class TruncationTests(ITestOutputHelper output)
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    [Fact]
    public async Task A_shard_truncated_during_export_is_one_line_and_exit_2()
    {
        using var tmp = new TempDir();
        int landed = 0;
        for (int attempt = 0; attempt < 6 && landed < 2; attempt++)
        {
            string ckpt = tmp.File($"model{attempt}.safetensors");
            File.Copy(Path.Combine(TinyDir, "model.safetensors"), ckpt);
            string dest = tmp.File($"out{attempt}");
            var psi = Support.Cli.StartInfo("export", "--arch", "deepencoder", "--checkpoint", ckpt, "--config",
                Path.Combine(TinyDir, "fixture.json"),
                "--external-data", "always", "--out", dest);
            psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
            psi.Environment["DOTNET_EnableDiagnostics"] = "0";
            using var p = Process.Start(psi)!;
            _ = p.StandardOutput.ReadToEndAsync();
            // Progress goes to stderr as timestamped phase lines when redirected: truncate once the graph is built, while
            // the weights are still to be read ("[..] write: ..." follows).
            var seen = new System.Text.StringBuilder();
            string? line;
            while ((line = p.StandardError.ReadLine()) is not null)
            {
                seen.AppendLine(line);
                if (line.Contains("] write:", StringComparison.Ordinal) || line.Contains("] build:", StringComparison.Ordinal)) break;
            }
            // Keep the header, drop the tensor data: every read past it now comes up short.
            using (var f = new FileStream(ckpt, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) f.SetLength(4096);
            string stderr = seen + await p.StandardError.ReadToEndAsync();
            p.WaitForExit(120_000).Should().BeTrue();
            output.WriteLine($"attempt {attempt}: exit {p.ExitCode}: {stderr.Trim()}");
            if (p.ExitCode == 0) continue; // the export finished before the truncation landed
            p.ExitCode.Should().Be(2, stderr);
            new Support.CliResult(p.ExitCode, "", stderr).Errors.Trim().Split('\n')
                .Should().ContainSingle().Which.Should().Contain(ckpt).And.Contain("shrank");
            Directory.Exists(dest).Should().BeFalse();
            Directory.GetDirectories(tmp.Path, $"out{attempt}.*").Should().BeEmpty("the staging folder is removed");
            landed++;
        }
        landed.Should().BeGreaterThan(0, "at least one truncation must land while the export reads");
    }
}
