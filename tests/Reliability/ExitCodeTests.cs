using System.Diagnostics;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.6: environment errors (disk full, a mount point as --out, --batch overflow) are exit 2 with one line naming the
/// path or option, not exit 3; ONNX Runtime's own log lines stay off the terminal unless --verbose. Disk full and mount
/// points use a real tmpfs mounted in a private user+mount namespace (`unshare -rm`); those tests skip where that is not allowed.
/// </summary>
public sealed class ExitCodeTests
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    internal static bool CanUnshare()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("unshare", ["-rm", "true"]) { RedirectStandardError = true })!;
            return p.WaitForExit(10_000) && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Runs `script` in a shell inside a new user+mount namespace (root there, so it may mount a tmpfs).</summary>
    private static CliResult Namespaced(string script)
    {
        var psi = new ProcessStartInfo("unshare", ["-rm", "sh", "-c", script]) { RedirectStandardOutput = true,
            RedirectStandardError = true };
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(true);
            throw new TimeoutException(script);
        }
        return new CliResult(p.ExitCode, o.Result, e.Result);
    }

    private static string Export(string output, string extra = "") =>
        $"dotnet {Support.Cli.Dll} export --arch deepencoder --checkpoint {TinyDir}/model.safetensors --config {TinyDir}/fixture.json " +
            $"--out {output} {extra}";

    private static void ShouldBeOneLine(CliResult r, params string[] mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        foreach (var m in mentions) lines[0].Should().Contain(m, r.ToString());
    }

    [NamespaceFact]
    public void Disk_full_is_exit_2_naming_the_destination_and_leaves_nothing()
    {
        using var tmp = new TempDir();
        string mnt = tmp.File("small");
        Directory.CreateDirectory(mnt);
        // 256 KiB: the tiny export (~1.5 MB) cannot fit. After the run the folder is listed from inside the namespace.
        var r = Namespaced($"mount -t tmpfs -o size=256k tmpfs {mnt} && {Export(mnt + "/out", "--external-data always")}; rc=$?; ls -A " +
            $"{mnt} >&2; exit $rc");
        ShouldBeOneLine(r, mnt + "/out", "no space");
    }

    [NamespaceFact]
    public void A_mount_point_as_forced_out_is_exit_2_and_kept()
    {
        using var tmp = new TempDir();
        string mnt = tmp.File("mnt");
        Directory.CreateDirectory(mnt);
        // An earlier export lives on its own file system mounted at --out: renaming a mount point fails (EBUSY).
        Support.Cli.Run(["export", "--arch", "deepencoder", "--checkpoint", Path.Combine(TinyDir, "model.safetensors"), "--config",
            Path.Combine(TinyDir, "fixture.json"), "--out", tmp.File("art")])
            .ExitCode.Should().Be(0);
        var r = Namespaced($"mount -t tmpfs -o size=64m tmpfs {mnt} && cp {tmp.File("art")}/* {mnt}/ && {Export(mnt)} --force; rc=$?; " +
            $"test -f {mnt}/manifest.json || echo manifest-lost >&2; exit $rc");
        ShouldBeOneLine(r, mnt);
    }

    [Fact]
    public void Batch_overflow_is_a_usage_error()
    {
        var r = Support.Cli.Run(TimeSpan.FromSeconds(60), "validate", "--arch", "deepencoder", "--checkpoint",
            Path.Combine(TinyDir, "model.safetensors"),
            "--config", Path.Combine(TinyDir, "fixture.json"), "--batch", "2000000000");
        ShouldBeOneLine(r, "--batch");
    }

    [Fact]
    public void Wrongly_shaped_inputs_name_the_file_and_no_parameter()
    {
        using var tmp = new TempDir();
        ModelForge.Converters.Checkpoints.SafetensorsWriter.Write(tmp.File("in.safetensors"),
            [new ModelForge.Converters.Checkpoints.WritableTensor("pixel_values", ModelForge.Graphs.Ir.DataType.Float32, [1, 3, 64, 64],
                () => new byte[3 * 64 * 64 * 4])]);
        var r = Support.Cli.Run(TimeSpan.FromSeconds(90), "validate", "--arch", "deepencoder", "--checkpoint",
            Path.Combine(TinyDir, "model.safetensors"),
            "--config", Path.Combine(TinyDir, "fixture.json"), "--inputs", tmp.File("in.safetensors"));
        ShouldBeOneLine(r, "in.safetensors", "pixel_values");
        r.Stderr.Should().NotContain("Parameter '");
    }

    [Fact]
    public void Onnx_runtime_log_lines_stay_off_the_terminal_unless_verbose()
    {
        using var tmp = new TempDir();
        // A model with an initializer no node uses: ONNX Runtime logs a warning about removing it when it loads the model.
        Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(TinyDir, "model.safetensors"), "--config",
            Path.Combine(TinyDir, "fixture.json"),
            "--out", tmp.File("art")).ExitCode.Should().Be(0);
        var proto = ModelForge.Converters.Onnx.OnnxModelEditor.Read(tmp.File("art/model.onnx"));
        var unused = new ModelForge.Converters.Onnx.Proto.TensorProto { Name = "unused_initializer", DataType = 1 };
        unused.Dims.Add(1);
        unused.FloatData.Add(1f);
        proto.Graph.Initializer.Add(unused);
        File.WriteAllBytes(tmp.File("lone.onnx"), Google.Protobuf.MessageExtensions.ToByteArray(proto));
        string[] args = ["validate", "--fixture", TinyDir, "--paths", "exported", "--onnx", tmp.File("lone.onnx")];
        var quiet = Support.Cli.Run(args);
        quiet.ExitCode.Should().Be(0, quiet.ToString());
        quiet.Errors.Should().NotContain("onnxruntime", quiet.ToString());
        var verbose = Support.Cli.Run([.. args, "--verbose"]);
        verbose.ExitCode.Should().Be(0, verbose.ToString());
        verbose.Stderr.Should().Contain("unused_initializer", "--verbose shows ONNX Runtime's own messages");
    }
}

/// <summary>A fact that skips (with the reason) where unprivileged user + mount namespaces are not allowed.</summary>
public sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (!ExitCodeTests.CanUnshare()) Skip = "unshare -rm (user namespaces) is not allowed on this machine";
    }
}
