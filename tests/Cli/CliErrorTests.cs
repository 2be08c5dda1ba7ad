using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>User mistakes give one line on stderr naming the thing, exit code 2, no stack trace, nothing written.</summary>
public class CliErrorTests
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string TinyCkpt = Path.Combine(TinyDir, "model.safetensors");
    private static readonly string TinyConfig = Path.Combine(TinyDir, "fixture.json");

    private static void ShouldBeOneLineError(CliResult r, params string[] mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        foreach (var m in mentions) lines[0].Should().Contain(m);
        r.Stderr.Should().NotContain("   at ");
    }

    private static CliResult Export(TempDir tmp, params string[] extra) =>
        Support.Cli.Run(["export", "--out", tmp.File("out"), .. extra.Contains("--arch") ? extra : ["--arch", "deepencoder", .. extra]]);

    [Fact]
    public void Unknown_architecture_lists_the_known_ones()
    {
        using var tmp = new TempDir();
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--arch", "llava"), "llava", "deepencoder");
        Directory.Exists(tmp.File("out")).Should().BeFalse();
    }

    [Fact]
    public void Truncated_checkpoint_is_named()
    {
        using var tmp = new TempDir();
        var bytes = File.ReadAllBytes(TinyCkpt);
        File.WriteAllBytes(tmp.File("cut.safetensors"), bytes[..(bytes.Length / 2)]);
        ShouldBeOneLineError(Export(tmp, "--checkpoint", tmp.File("cut.safetensors"), "--config", TinyConfig), "cut.safetensors");
        Directory.EnumerateFileSystemEntries(tmp.Path).Should().HaveCount(1, "nothing may be written");
    }

    [Fact]
    public void Corrupted_header_is_named()
    {
        using var tmp = new TempDir();
        var bytes = File.ReadAllBytes(TinyCkpt);
        bytes[20] = (byte)'{';
        bytes[21] = (byte)'"';
        File.WriteAllBytes(tmp.File("bad.safetensors"), bytes);
        ShouldBeOneLineError(Export(tmp, "--checkpoint", tmp.File("bad.safetensors"), "--config", TinyConfig), "bad.safetensors");
    }

    [Fact]
    public void Mismatched_checkpoint_lists_every_problem_at_once()
    {
        // The released (full-size) config against the tiny checkpoint: every weight has the wrong shape.
        using var tmp = new TempDir();
        var r = Export(tmp, "--checkpoint", TinyCkpt);
        ShouldBeOneLineError(r, "376 missing", "99 wrongly shaped",
            "model.sam_model.blocks.0.attn.qkv.weight is [192, 64], expected [2304, 768]", "and 91 more");
    }

    [Fact]
    public void Checkpoint_of_another_family_says_which_it_looks_like()
    {
        using var tmp = new TempDir();
        ShouldBeOneLineError(Export(tmp, "--checkpoint", Path.Combine(Repo.Golden("vary-tiny"), "model.safetensors")), "vary");
    }

    [Fact]
    public void Image_size_must_fit_the_patch_size()
    {
        using var tmp = new TempDir();
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--image-size", "250"), "250", "16");
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--image-size", "1000000"), "1000000", "5120");
    }

    [Fact]
    public void Existing_destination_needs_force()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("out"));
        File.WriteAllText(tmp.File("out/keep.txt"), "mine");
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig), "--force");
        File.ReadAllText(tmp.File("out/keep.txt")).Should().Be("mine");
        // --force replaces only an earlier export (a folder with a ModelForge manifest), never a folder of the user's files.
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--force"), "not a ModelForge artifact");
        File.ReadAllText(tmp.File("out/keep.txt")).Should().Be("mine");
        Directory.Delete(tmp.File("out"), true);
        Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig).ExitCode.Should().Be(0);
        var forced = Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--force");
        forced.ExitCode.Should().Be(0, forced.ToString());
        File.Exists(tmp.File("out/model.onnx")).Should().BeTrue();
    }

    [Fact]
    public void Unknown_option_values_and_modes_are_usage_errors()
    {
        using var tmp = new TempDir();
        Export(tmp, "--checkpoint", TinyCkpt, "--target", "coreml").ExitCode.Should().Be(2);
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--mode", "huge"), "huge", "gundam");
        ShouldBeOneLineError(Support.Cli.Run("validate", "--fixture", TinyDir, "--precision", "fp8"), "fp8");
        ShouldBeOneLineError(Support.Cli.Run("validate", "--fixture", tmp.File("nowhere")), "nowhere");
    }

    [Fact]
    public void Pickle_checkpoints_are_refused_with_a_pointer_to_safetensors()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp.File("pytorch_model.bin"), [0x80, 0x02, 0x63]);
        ShouldBeOneLineError(Support.Cli.Run("inspect", tmp.File("pytorch_model.bin")), "pytorch_model.bin", "safetensors");
    }

    [Fact]
    public void TensorRT_target_with_require_engine_says_plainly_TensorRT_is_not_here()
    {
        // Without --require-engine the bundle is written and the engine reported "not built" (tests/Bundles).
        using var tmp = new TempDir();
        ShouldBeOneLineError(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, "--target", "tensorrt", "--require-engine"),
            "TensorRT");
    }
}
