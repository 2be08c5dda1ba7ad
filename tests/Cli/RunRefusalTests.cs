using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>
/// `run` refuses what it cannot do right (issue 9, point 1): a --mode the artifact was not exported for, a missing local
/// graph, another family's artifact, a local graph alone, an image size of no mode. Each is exit 2 with one line saying
/// what the artifact holds, and no tokens file. A plain export runs without --mode (its mode comes from its image size).
/// </summary>
public sealed class RunRefusalTests : IClassFixture<RunRefusalTests.Artifacts>
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string Png = Repo.Fixture("golden", "preprocess", "wide_1600x900.png");

    /// <summary>A plain tiny DeepEncoder export (256 px = Base for its 256-px SAM), a Gundam export and a Vary export.</summary>
    public sealed class Artifacts : IDisposable
    {
        public TempDir Dir { get; } = new();

        public string Plain => Dir.File("plain");

        public string Gundam => Dir.File("gundam");

        public string Vary => Dir.File("vary");

        public Artifacts()
        {
            Export("deepencoder", TinyDir, Plain);
            Export("deepencoder", TinyDir, Gundam, "--mode", "gundam");
            Export("vary", Repo.Golden("vary-tiny"), Vary);
        }

        private static void Export(string arch, string fixture, string dir, params string[] extra)
        {
            var r = Support.Cli.Run(["export", "--arch", arch, "--checkpoint", Path.Combine(fixture, "model.safetensors"),
                "--config", Path.Combine(fixture, "fixture.json"), "--out", dir, .. extra]);
            r.ExitCode.Should().Be(0, r.ToString());
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Artifacts _a;

    public RunRefusalTests(Artifacts a) => _a = a;

    private static void Refused(CliResult r, TempDir tmp, params string[] mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var line = r.Errors.Trim().Split('\n').Should().ContainSingle(r.ToString()).Subject;
        foreach (var m in mentions) line.Should().Contain(m);
        File.Exists(tmp.File("t.safetensors")).Should().BeFalse();
    }

    private static CliResult Run(TempDir tmp, string onnx, params string[] extra) =>
        Support.Cli.Run(["run", "--onnx", onnx, "--image", Png, "--out", tmp.File("t.safetensors"), .. extra]);

    [Fact]
    public void A_plain_export_runs_without_mode_as_the_mode_of_its_size()
    {
        using var tmp = new TempDir();
        var r = Run(tmp, _a.Plain);
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("mode base");
        using var f = SafetensorsFile.Open(tmp.File("t.safetensors"));
        // Base at 256 px with 16-px patches and 16x compression: 4x4 grid -> 4*5+1 = 21 tokens.
        f.Get("tokens").Shape.Should().Equal(21, 96);
    }

    [Fact]
    public void Gundam_on_a_plain_export_is_refused_not_run_with_wrong_tokens()
    {
        using var tmp = new TempDir();
        Refused(Run(tmp, _a.Plain, "--mode", "gundam"), tmp, "--mode gundam", "holds mode base", "no local-tile graph");
    }

    [Fact]
    public void Another_mode_on_a_gundam_export_is_refused()
    {
        using var tmp = new TempDir();
        Refused(Run(tmp, _a.Gundam, "--mode", "base"), tmp, "--mode base", "holds mode gundam", "local-tile graph");
        // The same mode is fine (and is what the manifest says anyway).
        Run(tmp, _a.Gundam, "--mode", "gundam").ExitCode.Should().Be(0);
    }

    [Fact]
    public void A_gundam_export_without_its_local_graph_is_refused()
    {
        using var tmp = new TempDir();
        string copy = tmp.File("copy");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_a.Gundam)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "manifest.json")))!;
        var parts = manifest["parts"]!.AsArray();
        parts.Remove(parts.Single(p => p!["name"]!.GetValue<string>() == "local"));
        File.WriteAllText(Path.Combine(copy, "manifest.json"), manifest.ToJsonString());
        Refused(Run(tmp, copy), tmp, "mode gundam", "local-tile part");
    }

    [Fact]
    public void Another_familys_artifact_is_refused()
    {
        using var tmp = new TempDir();
        Refused(Run(tmp, _a.Vary), tmp, "a vary artifact", "DeepEncoder");
        Refused(Run(tmp, Path.Combine(_a.Vary, "model.onnx"), "--mode", "base"), tmp, "a vary model");
    }

    [Fact]
    public void Single_files_a_local_graph_alone_and_sizes_of_no_mode_are_refused()
    {
        using var tmp = new TempDir();
        Refused(Run(tmp, Path.Combine(_a.Gundam, "local.onnx")), tmp, "local-tile graph", "export folder");
        Refused(Run(tmp, Path.Combine(_a.Plain, "model.onnx")), tmp, "256-px", "no released mode", "--mode");
        Refused(Run(tmp, Path.Combine(_a.Plain, "model.onnx"), "--mode", "gundam"), tmp, "--mode gundam", "local-tile graph");
        // An export at a size that is no mode's (192 px for a 256-px SAM).
        var odd = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(TinyDir, "model.safetensors"),
            "--config", Path.Combine(TinyDir, "fixture.json"), "--image-size", "192", "--out", tmp.File("odd"));
        odd.ExitCode.Should().Be(0, odd.ToString());
        Refused(Run(tmp, tmp.File("odd")), tmp, "192 px", "no DeepSeek-OCR mode", "export with --mode");
    }
}
