using System.Security.Cryptography;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.1: no command may delete or overwrite one of its own inputs. `export --out X --force` refuses when X is,
/// contains or lies inside an input (checkpoint file/folder/shards, config, current folder), or when X is not a
/// ModelForge artifact; two exports racing to one --out give one success and one "already exists"; `run --out` and
/// `validate --report/--junit` never overwrite an input. Every refusal: exit 2, one line naming the path, input intact.
/// </summary>
public sealed class DataLossTests
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    private static string Hash(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>A private copy of the tiny checkpoint + config in tmp/ckpt (so a broken guard cannot harm the repository).</summary>
    private static (string Ckpt, string Config) CopyInputs(TempDir tmp, string folder = "ckpt")
    {
        string dir = tmp.File(folder);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(TinyDir, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        File.Copy(Path.Combine(TinyDir, "fixture.json"), Path.Combine(dir, "fixture.json"));
        return (Path.Combine(dir, "model.safetensors"), Path.Combine(dir, "fixture.json"));
    }

    private static string[] Export(string checkpoint, string config, string output, bool force = true) =>
        ["export", "--arch", "deepencoder", "--checkpoint", checkpoint, "--config", config, "--out", output,
            .. force ? new[] { "--force" } : []];

    private static void ShouldRefuse(CliResult r, string mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        lines[0].Should().Contain(mentions, r.ToString());
        r.Stderr.Should().NotContain("   at ");
    }

    [Fact]
    public void Force_onto_the_checkpoint_folder_is_refused_and_the_checkpoint_kept()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        string before = Hash(ckpt);
        ShouldRefuse(Support.Cli.Run(Export(Path.GetDirectoryName(ckpt)!, cfg, Path.GetDirectoryName(ckpt)!)), tmp.File("ckpt"));
        Hash(ckpt).Should().Be(before);
        File.Exists(cfg).Should().BeTrue();
    }

    [Fact]
    public void Force_onto_a_folder_that_contains_the_checkpoint_file_is_refused()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp, "models/ckpt");
        // The checkpoint's folder and its parent: replacing either would delete the checkpoint.
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, Path.GetDirectoryName(ckpt)!)), "model.safetensors");
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, tmp.File("models"))), "model.safetensors");
        File.Exists(ckpt).Should().BeTrue();
    }

    [Fact]
    public void Force_onto_the_config_folder_is_refused()
    {
        using var tmp = new TempDir();
        var (ckpt, _) = CopyInputs(tmp);
        Directory.CreateDirectory(tmp.File("cfg"));
        string cfg = tmp.File("cfg/config.json");
        File.Copy(Path.Combine(TinyDir, "fixture.json"), cfg);
        File.WriteAllText(tmp.File("cfg/manifest.json"), "{\"format\": \"modelforge-artifact/1\"}");
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, tmp.File("cfg"))), "config.json");
        File.Exists(cfg).Should().BeTrue();
    }

    [Fact]
    public void Force_onto_the_current_folder_or_its_parent_is_refused()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        string work = tmp.File("home/work");
        Directory.CreateDirectory(work);
        File.WriteAllText(Path.Combine(work, "thesis.tex"), "my only copy");
        // Even when they look like artifacts: the user stands in them.
        File.WriteAllText(Path.Combine(work, "manifest.json"), "{\"format\": \"modelforge-artifact/1\"}");
        File.WriteAllText(tmp.File("home/manifest.json"), "{\"format\": \"modelforge-artifact/1\"}");
        ShouldRefuse(CliProcess.RunIn(work, Export(ckpt, cfg, ".")), "current folder");
        ShouldRefuse(CliProcess.RunIn(work, Export(ckpt, cfg, "..")), "current folder");
        File.ReadAllText(Path.Combine(work, "thesis.tex")).Should().Be("my only copy");
    }

    [Fact]
    public void A_symlink_to_the_checkpoint_folder_is_seen_through()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        File.CreateSymbolicLink(tmp.File("alias"), tmp.File("ckpt"));
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, tmp.File("alias"))), "model.safetensors");
        File.Exists(ckpt).Should().BeTrue();
    }

    [Fact]
    public void A_forced_output_inside_a_checkpoint_folder_is_refused()
    {
        using var tmp = new TempDir();
        var (_, cfg) = CopyInputs(tmp);
        // The checkpoint given as a folder: --force deletes what it replaces, so it may not reach into the input folder.
        ShouldRefuse(Support.Cli.Run(Export(tmp.File("ckpt"), cfg, tmp.File("ckpt/onnx"), force: true)), tmp.File("ckpt"));
        Directory.Exists(tmp.File("ckpt/onnx")).Should().BeFalse();
    }

    [Fact]
    public void Force_onto_a_folder_that_is_not_an_artifact_is_refused()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        Directory.CreateDirectory(tmp.File("photos"));
        File.WriteAllText(tmp.File("photos/holiday.jpg"), "pixels");
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, tmp.File("photos"))), tmp.File("photos"));
        File.ReadAllText(tmp.File("photos/holiday.jpg")).Should().Be("pixels");
        // A manifest of another format is not enough either.
        File.WriteAllText(tmp.File("photos/manifest.json"), "{\"format\": \"something-else/1\"}");
        ShouldRefuse(Support.Cli.Run(Export(ckpt, cfg, tmp.File("photos"))), "not a ModelForge artifact");
        File.Exists(tmp.File("photos/holiday.jpg")).Should().BeTrue();
    }

    [Fact]
    public void Force_replaces_a_real_artifact()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        Support.Cli.Run(Export(ckpt, cfg, tmp.File("out"), force: false)).ExitCode.Should().Be(0);
        var r = Support.Cli.Run(Export(ckpt, cfg, tmp.File("out")));
        r.ExitCode.Should().Be(0, r.ToString());
        File.Exists(tmp.File("out/manifest.json")).Should().BeTrue();
    }

    [Fact]
    public void Two_concurrent_exports_to_one_destination_give_one_success_and_one_already_exists()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        for (int round = 0; round < 3; round++)
        {
            string dest = tmp.File($"race{round}");
            var results = CliProcess.RunTogether(Export(ckpt, cfg, dest, force: false), Export(ckpt, cfg, dest, force: false));
            results.Count(r => r.ExitCode == 0).Should().Be(1, string.Join("\n", results.Select(r => r.ToString())));
            var loser = results.Single(r => r.ExitCode != 0);
            ShouldRefuse(loser, "already exists");
            File.Exists(Path.Combine(dest, "manifest.json")).Should().BeTrue();
            Directory.GetDirectories(tmp.Path).Select(Path.GetFileName).Where(n => n!.StartsWith($"race{round}.", StringComparison.Ordinal))
                .Should().BeEmpty("no staging folder is left behind");
        }
    }

    [Fact]
    public void Run_out_never_overwrites_the_image_or_the_artifact()
    {
        using var tmp = new TempDir();
        var (ckpt, cfg) = CopyInputs(tmp);
        Support.Cli.Run(["export", "--arch", "deepencoder", "--checkpoint", ckpt, "--config", cfg, "--mode", "tiny", "--out",
            tmp.File("art")])
            .ExitCode.Should().Be(0);
        string image = tmp.File("page.png");
        File.Copy(Repo.Fixture("golden", "preprocess", "small_300x200.png"), image);
        string imageHash = Hash(image);
        ShouldRefuse(Support.Cli.Run("run", "--onnx", tmp.File("art"), "--image", image, "--out", image), "page.png");
        Hash(image).Should().Be(imageHash);
        string model = tmp.File("art/global.onnx");
        string modelHash = Hash(model);
        ShouldRefuse(Support.Cli.Run("run", "--onnx", tmp.File("art"), "--image", image, "--out", model), "global.onnx");
        ShouldRefuse(Support.Cli.Run("run", "--onnx", tmp.File("art"), "--image", image, "--out", tmp.File("art/manifest.json")),
            "manifest.json");
        Hash(model).Should().Be(modelHash);
        // A folder as --out is named as such (not an internal error after the run).
        ShouldRefuse(Support.Cli.Run("run", "--onnx", tmp.File("art"), "--image", image, "--out", tmp.Path), tmp.Path);
    }

    [Fact]
    public void Validate_reports_never_overwrite_a_fixture_file()
    {
        using var tmp = new TempDir();
        string fixture = tmp.File("fx");
        Directory.CreateDirectory(fixture);
        foreach (var f in Directory.GetFiles(TinyDir)) File.Copy(f, Path.Combine(fixture, Path.GetFileName(f)));
        string fixtureJson = Path.Combine(fixture, "fixture.json"), golden = Path.Combine(fixture, "golden.safetensors");
        string h1 = Hash(fixtureJson), h2 = Hash(golden);
        ShouldRefuse(Support.Cli.Run("validate", "--fixture", fixture, "--paths", "exported", "--report", fixtureJson), "fixture.json");
        ShouldRefuse(Support.Cli.Run("validate", "--fixture", fixture, "--paths", "exported", "--junit", golden), "golden.safetensors");
        Hash(fixtureJson).Should().Be(h1);
        Hash(golden).Should().Be(h2);
    }

    [Fact]
    public void Validate_report_that_is_a_folder_is_refused_before_the_run()
    {
        using var tmp = new TempDir();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var r = Support.Cli.Run("validate", "--fixture", TinyDir, "--paths", "exported", "--report", tmp.Path);
        ShouldRefuse(r, tmp.Path);
        r.Stdout.Should().NotContain("PASS", "the folder must be refused before the cases run");
    }
}
