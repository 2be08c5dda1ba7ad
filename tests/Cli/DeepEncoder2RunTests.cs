using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// `export --mode` + `run` for deepencoder2 on the tiny golden checkpoint (views scaled to 64 global / 48 crops): token
/// counts 9k + 17 (released: 144k + 257), and the host-assembled sequence equals the one-graph sequence whose layout the
/// golden case2 checks against the original.
/// </summary>
public class DeepEncoder2RunTests(ITestOutputHelper output, DeepEncoder2RunTests.Exports exports)
    : IClassFixture<DeepEncoder2RunTests.Exports>
{
    /// <summary>The gundam and base exports, made once for the class.</summary>
    public sealed class Exports : IDisposable
    {
        public TempDir Dir { get; } = new();

        public string Gundam { get; }

        public string Base { get; }

        public Exports()
        {
            Gundam = Export("gundam");
            Base = Export("base");
        }

        private string Export(string mode)
        {
            string dir = Dir.File(mode);
            var r = Support.Cli.Run("export", "--arch", "deepencoder2", "--checkpoint",
                Path.Combine(Repo.Golden("deepencoder2-tiny"), "model.safetensors"),
                "--config", Path.Combine(Repo.Golden("deepencoder2-tiny"), "fixture.json"), "--mode", mode, "--out", dir);
            if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
            return dir;
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Exports _exports = exports;

    private static DeepSeekOcr2Mode Tiny(DeepSeekOcr2Mode m) => m.For(new ViewsConfig { BaseSize = 64, ImageSize = 48 });

    [Theory]
    [InlineData("gundam", "wide_1600x900.png")]
    [InlineData("gundam", "tall_700x1000.png")]
    [InlineData("base", "small_300x200.png")]
    public void Run_gives_9k_plus_17_tokens(string mode, string image)
    {
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", image);
        var r = Support.Cli.Run("run", "--onnx", mode == "gundam" ? _exports.Gundam : _exports.Base, "--image", imagePath, "--out",
            tmp.File("tokens.safetensors"));
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(0, r.ToString());
        var pre = DeepSeekOcr2Preprocessor.Preprocess(ImageLoader.Load(imagePath), Tiny(DeepSeekOcr2Mode.Parse(mode)));
        if (mode == "gundam") pre.Tiles.Count.Should().BeInRange(2, 6);
        int expected = DeepSeekOcr2TokenLayout.TokenCount(16, 9, pre.Tiles.Count);
        using var tokens = SafetensorsFile.Open(tmp.File("tokens.safetensors"));
        tokens.Get("tokens").Shape.Should().Equal(expected, 80);
        r.Stdout.Should().Contain($"{expected} tokens");
    }

    [Fact]
    public void Host_assembled_tokens_equal_the_one_graph_sequence_of_the_original_layout()
    {
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", "wide_1600x900.png");
        var r = Support.Cli.Run("run", "--onnx", _exports.Gundam, "--image", imagePath, "--out", tmp.File("tokens.safetensors"));
        r.ExitCode.Should().Be(0, r.ToString());
        var pre = DeepSeekOcr2Preprocessor.Preprocess(ImageLoader.Load(imagePath), Tiny(DeepSeekOcr2Mode.Gundam));

        string dir = Repo.Golden("deepencoder2-tiny");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "fixture.json")));
        var graph = DeepEncoder2Builder.Build(DeepEncoder2Config.FromJson(doc.RootElement),
            new DeepEncoder2BuildOptions(64, Crops: pre.Tiles.Count));
        graph.PruneUnused();
        using var ckpt = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        var export = OnnxExporter.Export(graph, new CheckpointWeights(ckpt, new DeepEncoder2Adapter()), tmp.File("image.onnx"),
            new OnnxExportOptions());
        using var runner = new OrtRunner(export.ModelPath);
        var want = runner.Run(new Dictionary<string, HostTensor> { ["pixel_values"] = Stack([pre.Global]),
            ["images_crop"] = Stack(pre.Tiles) })["image_tokens"];

        using var tokens = SafetensorsFile.Open(tmp.File("tokens.safetensors"));
        tokens.Get("tokens").Shape.Should().Equal(want.Shape);
        var got = tokens.ReadAsFloat32("tokens");
        double max = got.Zip(want.Data, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{pre.Tiles.Count} crops, {want.Shape[0]} tokens, max |run - one graph| = {max:E2}");
        max.Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Bad_options_are_one_line_errors()
    {
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", "small_300x200.png");
        var r = Support.Cli.Run("run", "--onnx", _exports.Gundam, "--image", imagePath, "--out", tmp.File("t.safetensors"), "--max-tiles",
            "9");
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Trim().Should().Contain("--max-tiles 9").And.Contain("2..6").And.NotContain("\n");
        r = Support.Cli.Run("run", "--onnx", _exports.Base, "--image", imagePath, "--out", tmp.File("t.safetensors"), "--mode", "gundam");
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("needs the local-crop model");
        r = Support.Cli.Run("run", "--onnx", Path.Combine(_exports.Base, "global.onnx"), "--image", imagePath, "--out",
            tmp.File("t.safetensors"), "--mode", "base");
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("give its export folder");
        File.Exists(tmp.File("t.safetensors")).Should().BeFalse();
    }

    [Fact]
    public void Json_output_describes_the_run()
    {
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", "wide_1600x900.png");
        var r = Support.Cli.Run("run", "--onnx", _exports.Gundam, "--image", imagePath, "--out", tmp.File("t.safetensors"), "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        var pre = DeepSeekOcr2Preprocessor.Preprocess(ImageLoader.Load(imagePath), Tiny(DeepSeekOcr2Mode.Gundam));
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        root.GetProperty("architecture").GetString().Should().Be("deepencoder2");
        root.GetProperty("tokens").GetInt64().Should().Be(DeepSeekOcr2TokenLayout.TokenCount(16, 9, pre.Tiles.Count));
        root.GetProperty("mode").GetString().Should().Be("gundam");
        root.GetProperty("crops").GetString().Should().Be($"{pre.TilesWide}x{pre.TilesHigh}");
        root.GetProperty("out_path").GetString().Should().Be(Path.GetFullPath(tmp.File("t.safetensors")));
        root.GetProperty("phases").EnumerateObject().Select(p => p.Name).Should().Contain(["preprocess", "inference"]);
    }

    [Fact]
    public void A_missing_image_is_one_line()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("run", "--onnx", _exports.Base, "--image", tmp.File("nope.png"), "--out", tmp.File("t.safetensors"));
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Trim().Should().Be($"modelforge: error: --image {tmp.File("nope.png")}: file not found");
        File.Exists(tmp.File("t.safetensors")).Should().BeFalse();
    }

    [Fact]
    public void Archs_and_inspect_show_the_family()
    {
        var archs = Support.Cli.Run("archs");
        archs.ExitCode.Should().Be(0, archs.ToString());
        archs.Stdout.Should().Contain("deepencoder2").And.Contain("454,385,280 parameters").And.Contain("image_tokens f32[257, 1280]");
        var inspect = Support.Cli.Run("inspect", Path.Combine(Repo.Golden("deepencoder2-tiny"), "model.safetensors"));
        inspect.ExitCode.Should().Be(0, inspect.ToString());
        inspect.Stdout.Should().Contain("looks like a deepencoder2 checkpoint");
    }

    private static HostTensor Stack(IReadOnlyList<RgbImage> images)
    {
        int h = images[0].Height, w = images[0].Width;
        var data = new float[(long)images.Count * 3 * h * w];
        for (int i = 0; i < images.Count; i++) DeepSeekOcrPreprocessor.Normalize(images[i]).CopyTo(data, (long)i * 3 * h * w);
        return new HostTensor([images.Count, 3, h, w], data);
    }
}
