using System.Diagnostics;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.8: validate never writes beside the artifact (a read-only artifact validates), and its temporary data lives in
/// one private folder under TMPDIR that is removed on exit and on SIGTERM, and swept by the next run when its owner died.
/// Each test gives the child its own TMPDIR, so "nothing left" is checked exactly.
/// </summary>
public sealed class TempHygieneTests
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    private static ProcessStartInfo Start(string tmpdir, params string[] args)
    {
        var psi = Support.Cli.StartInfo(args);
        psi.Environment["TMPDIR"] = tmpdir;
        // No runtime diagnostics IPC files (clr-debug-pipe-*, dotnet-diagnostic-*) in the checked folder.
        psi.Environment["DOTNET_EnableDiagnostics"] = "0";
        psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        return psi;
    }

    private static CliResult Run(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(true);
            throw new TimeoutException(string.Join(' ', psi.ArgumentList));
        }
        return new CliResult(p.ExitCode, o.Result, e.Result);
    }

    private static string ExportTo(TempDir tmp, string name, string extra = "always")
    {
        string dir = tmp.File(name);
        Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(TinyDir, "model.safetensors"), "--config",
            Path.Combine(TinyDir, "fixture.json"),
            "--external-data", extra, "--out", dir).ExitCode.Should().Be(0);
        return dir;
    }

    [NamespaceFact]
    public void A_read_only_artifact_validates_and_nothing_is_written_beside_it()
    {
        using var tmp = new TempDir();
        string art = ExportTo(tmp, "art");
        var before = Directory.GetFileSystemEntries(art).Order().ToArray();
        Directory.CreateDirectory(tmp.File("t"));
        // A real read-only file system: the artifact folder bind-mounted read-only inside a private mount namespace.
        var psi = new ProcessStartInfo("unshare", ["-rm", "sh", "-c",
            $"mount --bind {art} {art} && mount -o remount,ro,bind {art} && TMPDIR={tmp.File("t")} DOTNET_EnableDiagnostics=0 dotnet " +
            $"{Support.Cli.Dll} validate --fixture {TinyDir} --paths exported --onnx {art}/model.onnx"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["NO_COLOR"] = "1";
        var r = Run(psi);
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("trace comparisons");
        Directory.GetFileSystemEntries(art).Order().Should().Equal(before);
        Directory.GetFileSystemEntries(tmp.File("t")).Should().BeEmpty();
    }

    [Fact]
    public void Validate_leaves_nothing_beside_the_artifact_or_in_tmpdir()
    {
        using var tmp = new TempDir();
        string art = ExportTo(tmp, "art");
        var before = Directory.GetFileSystemEntries(art).Order().ToArray();
        Directory.CreateDirectory(tmp.File("t"));
        var r = Run(Start(tmp.File("t"), "validate", "--fixture", TinyDir, "--onnx", Path.Combine(art, "model.onnx")));
        r.ExitCode.Should().Be(0, r.ToString());
        Directory.GetFileSystemEntries(art).Order().Should().Equal(before);
        // Both paths, fresh export included: the exported path's temporary ONNX is gone too.
        var fresh = Run(Start(tmp.File("t"), "validate", "--fixture", TinyDir));
        fresh.ExitCode.Should().Be(0, fresh.ToString());
        Directory.GetFileSystemEntries(tmp.File("t")).Should().BeEmpty();
    }

    [Fact]
    public async Task Sigterm_removes_the_private_temp_folder()
    {
        using var tmp = new TempDir();
        string t = tmp.File("t");
        Directory.CreateDirectory(t);
        using var p = Process.Start(Start(t, "validate", "--fixture", TinyDir))!;
        var err = p.StandardError.ReadToEndAsync();
        // Wait for the child's own progress line of the first case (its temp folder exists by then), then SIGTERM it.
        var clock = Stopwatch.StartNew();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.Contains("case0", StringComparison.Ordinal))
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromMinutes(2));
        line.Should().NotBeNull("validate prints a line per case");
        Directory.GetDirectories(t).Should().NotBeEmpty("the private temp folder exists while validate runs");
        using (var kill = Process.Start("kill",
            ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!) kill.WaitForExit(10_000);
        _ = p.StandardOutput.ReadToEndAsync();
        p.WaitForExit(60_000).Should().BeTrue();
        Directory.GetFileSystemEntries(t).Should().BeEmpty(await err);
    }

    [Fact]
    public void Folders_of_dead_owners_are_swept_by_the_next_run()
    {
        using var tmp = new TempDir();
        string t = tmp.File("t");
        Directory.CreateDirectory(t);
        int dead;
        using (var p = Process.Start("true")!)
        {
            p.WaitForExit();
            dead = p.Id;
        }
        string stale = Path.Combine(t, $"modelforge-tmp-{dead}-0123456789abcdef");
        Directory.CreateDirectory(stale);
        File.WriteAllText(Path.Combine(stale, "model.onnx"), "left by a killed validate");
        string alive = Path.Combine(t, $"modelforge-tmp-{Environment.ProcessId}-fedcba9876543210");
        Directory.CreateDirectory(alive);
        var r = Run(Start(t, "validate", "--fixture", TinyDir, "--paths", "exported"));
        r.ExitCode.Should().Be(0, r.ToString());
        Directory.Exists(stale).Should().BeFalse("its owner is dead");
        Directory.Exists(alive).Should().BeTrue("its owner (this test process) is alive");
    }
}
