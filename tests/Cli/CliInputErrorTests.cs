using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>
/// More user mistakes (CliErrorTests has the first set): each is one stderr line, exit 2, no stack trace; --verbose
/// adds the trace.
/// </summary>
public sealed class CliInputErrorTests : IClassFixture<CliInputErrorTests.Artifact>
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string TinyCkpt = Path.Combine(TinyDir, "model.safetensors");
    private static readonly string TinyConfig = Path.Combine(TinyDir, "fixture.json");
    private static readonly string Png = Repo.Fixture("golden", "preprocess", "small_300x200.png");

    /// <summary>One exported tiny artifact (external data) shared by the `run` tests.</summary>
    public sealed class Artifact : IDisposable
    {
        public TempDir Dir { get; } = new();

        public string Path => Dir.File("artifact");

        public Artifact()
        {
            var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--mode", "base",
                "--external-data", "always", "--out", Path);
            r.ExitCode.Should().Be(0, r.ToString());
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Artifact _artifact;

    public CliInputErrorTests(Artifact artifact) => _artifact = artifact;

    private static void OneLine(CliResult r, params string[] mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        foreach (var m in mentions) lines[0].Should().Contain(m, r.ToString());
        r.Stderr.Should().NotContain("   at ");
    }

    private static CliResult Export(TempDir tmp, params string[] extra) =>
        Support.Cli.Run(["export", "--arch", "deepencoder", "--out", tmp.File("out"), .. extra]);

    [Theory]
    [InlineData("--external-data", "sometimes", "sometimes")]
    [InlineData("--opset", "12", "opset 12")]
    [InlineData("--opset", "seventeen", "seventeen")]
    [InlineData("--image-size", "0", "0")]
    [InlineData("--image-size", "-16", "-16")]
    [InlineData("--image-size", "abc", "abc")]
    [InlineData("--mode", "gundm", "gundm")]
    public void Bad_export_option_values(string option, string value, string mention)
    {
        using var tmp = new TempDir();
        OneLine(Export(tmp, "--checkpoint", TinyCkpt, "--config", TinyConfig, option, value), mention);
        Directory.Exists(tmp.File("out")).Should().BeFalse();
    }

    [Fact]
    public void Typos_in_arch_precision_paths_and_run_mode()
    {
        using var tmp = new TempDir();
        OneLine(Support.Cli.Run("export", "--arch", "deepencodr", "--checkpoint", TinyCkpt, "--out", tmp.File("out")), "deepencodr",
            "deepencoder");
        OneLine(Support.Cli.Run("validate", "--fixture", TinyDir, "--precision", "bf61"), "bf61");
        OneLine(Support.Cli.Run("validate", "--fixture", TinyDir, "--paths", "refrence"), "refrence");
        OneLine(Support.Cli.Run("run", "--onnx", Path.Combine(_artifact.Path, "global.onnx"), "--image", Png, "--mode", "bse", "--out",
            tmp.File("t.safetensors")), "bse");
        OneLine(Support.Cli.Run("validate", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--paths",
            "exported"), "--paths");
    }

    [Fact]
    public void Missing_files_are_named()
    {
        using var tmp = new TempDir();
        OneLine(Export(tmp, "--checkpoint", tmp.File("nowhere.safetensors")), "nowhere.safetensors");
        OneLine(Export(tmp, "--checkpoint", TinyCkpt, "--config", tmp.File("missing.json")), "missing.json");
        OneLine(Support.Cli.Run("run", "--onnx", _artifact.Path, "--image", tmp.File("missing.png"), "--out", tmp.File("t.safetensors")),
            "missing.png");
        OneLine(Support.Cli.Run("run", "--onnx", tmp.File("no-artifact"), "--image", Png, "--out", tmp.File("t.safetensors")),
            "no-artifact");
        OneLine(Support.Cli.Run("inspect", tmp.File("absent")), "absent");
    }

    [Fact]
    public void Missing_and_unexpected_tensors_and_a_wrong_dtype_are_listed_together()
    {
        using var tmp = new TempDir();
        using (var src = SafetensorsFile.Open(TinyCkpt))
        {
            const string dropped = "model.sam_model.blocks.0.attn.qkv.weight";
            const string asInt = "model.sam_model.blocks.1.attn.proj.weight";
            var tensors = src.Tensors.Where(t => t.Name != dropped).Select(t =>
            {
                if (t.Name == asInt)
                    return new WritableTensor(t.Name, DataType.Int64, t.Shape, () => new byte[t.ElementCount * 8]);
                var bytes = src.GetBytes(t.Name).ToArray();
                return new WritableTensor(t.Name, t.DType, t.Shape, () => bytes);
            }).Append(new WritableTensor("model.sam_model.blocks.0.attn.extra", DataType.Float32, [1], () => new byte[4])).ToList();
            SafetensorsWriter.Write(tmp.File("edited.safetensors"), tensors);
        }
        OneLine(Export(tmp, "--checkpoint", tmp.File("edited.safetensors"), "--config", TinyConfig),
            "1 missing: model.sam_model.blocks.0.attn.qkv.weight", "model.sam_model.blocks.1.attn.proj.weight is i64",
                "1 unexpected: model.sam_model.blocks.0.attn.extra");
    }

    [Fact]
    public void Wrong_image_and_truncated_or_garbled_artifacts_for_run()
    {
        using var tmp = new TempDir();
        // An image that is not one.
        File.WriteAllText(tmp.File("fake.png"), "not a png");
        OneLine(Support.Cli.Run("run", "--onnx", _artifact.Path, "--image", tmp.File("fake.png"), "--out", tmp.File("t.safetensors")),
            "fake.png");

        // A copy of the artifact with a truncated model file, then with a garbled manifest.
        string copy = tmp.File("copy");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_artifact.Path)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var model = File.ReadAllBytes(Path.Combine(copy, "global.onnx"));
        File.WriteAllBytes(Path.Combine(copy, "global.onnx"), model[..(model.Length / 2)]);
        OneLine(Support.Cli.Run("run", "--onnx", copy, "--image", Png, "--out", tmp.File("t.safetensors")), "global.onnx");
        File.WriteAllBytes(Path.Combine(copy, "global.onnx"), model);
        File.Delete(Path.Combine(copy, "global.onnx.data"));
        OneLine(Support.Cli.Run("run", "--onnx", copy, "--image", Png, "--out", tmp.File("t.safetensors")), "global.onnx");

        string manifest = Path.Combine(copy, "manifest.json");
        string text = File.ReadAllText(manifest);
        File.WriteAllText(manifest, text[..(text.Length / 2)]);
        OneLine(Support.Cli.Run("run", "--onnx", copy, "--image", Png, "--out", tmp.File("t.safetensors")), "manifest.json");
        var node = JsonNode.Parse(text)!;
        node["parts"]![0]!["image_size"] = "big";
        File.WriteAllText(manifest, node.ToJsonString());
        OneLine(Support.Cli.Run("run", "--onnx", copy, "--image", Png, "--out", tmp.File("t.safetensors")), "manifest.json");
        File.Exists(tmp.File("t.safetensors")).Should().BeFalse();
    }

    [Fact]
    public void Verbose_adds_the_stack_trace()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("--verbose", "export", "--arch", "deepencoder", "--checkpoint", tmp.File("nowhere.safetensors"), "--out",
            tmp.File("out"));
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("nowhere.safetensors").And.Contain("   at ");
    }
}
