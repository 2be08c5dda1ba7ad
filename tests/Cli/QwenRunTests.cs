using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// `export` + `run` for qwen2vl and qwen25vl on the tiny golden checkpoints: the tokens `run` writes (processor ->
/// host-derived inputs -> ONNX Runtime -> calls joined) equal the TorchSharp evaluator of the same graph on the same
/// pixel_values (the processor itself is bit-exact against the original: Qwen2VlPreprocessGoldenTests), their count is
/// smart_resize's, and bad options or images are one-line refusals with exit 2 and nothing written.
/// </summary>
public class QwenRunTests(ITestOutputHelper output, QwenRunTests.Exports exports) : IClassFixture<QwenRunTests.Exports>
{
    /// <summary>The two exports, made once for the class.</summary>
    public sealed class Exports : IDisposable
    {
        public TempDir Dir { get; } = new();

        public Dictionary<string, string> Folder { get; } = [];

        public Exports()
        {
            foreach (var (arch, fixture) in new[] { ("qwen2vl", "qwen2vl-tiny"), ("qwen25vl", "qwen25vl-tiny") })
            {
                string dir = Dir.File(arch);
                var r = Support.Cli.Run("export", "--arch", arch, "--checkpoint", Path.Combine(Repo.Golden(fixture), "model.safetensors"),
                    "--config", Path.Combine(Repo.Golden(fixture), "fixture.json"), "--out", dir);
                if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
                Folder[arch] = dir;
            }
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Exports _exports = exports;

    [Theory]
    [InlineData("qwen2vl", "qwen2vl-tiny", "small_300x200.png", null)]
    [InlineData("qwen25vl", "qwen25vl-tiny", "small_300x200.png", null)]
    [InlineData("qwen25vl", "qwen25vl-tiny", "tall_700x1000.png", 200704)]
    [InlineData("qwen2vl", "qwen2vl-tiny", "wide_1600x900.png", 200704)]
    public void Run_tokens_equal_the_reference_path_on_the_same_pixel_values(string arch, string fixture, string image, int? maxPixels)
    {
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", image);
        string[] args = ["run", "--onnx", _exports.Folder[arch], "--image", imagePath, "--out", tmp.File("tokens.safetensors")];
        if (maxPixels is { } mp) args = [.. args, "--max-pixels", mp.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var r = Support.Cli.Run(args);
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(0, r.ToString());

        // The reference: the processor's batch (released min_pixels, the given or released max_pixels), planned into the
        // family's calls, on the TorchSharp evaluator of the graph built from the fixture's config.
        var processor = Qwen2VlProcessorConfig.Released with { MaxPixels = maxPixels ?? Qwen2VlProcessorConfig.Released.MaxPixels };
        var picture = ImageLoader.Load(imagePath);
        var pre = Qwen2VlPreprocessor.Preprocess(picture, processor);
        int tokens = Qwen2VlSmartResize.Tokens(picture.Height, picture.Width, 14, 2, processor.MinPixels, processor.MaxPixels);
        pre.Tokens(2).Should().Be(tokens);
        var want = Reference(fixture, pre.ToInputs());

        using var file = SafetensorsFile.Open(tmp.File("tokens.safetensors"));
        file.Get("tokens").Shape.Should().Equal(want.Shape);
        want.Shape[0].Should().Be(tokens);
        var got = file.ReadAsFloat32("tokens");
        var cmp = TensorComparator.Compare("tokens", new HostTensor(want.Shape, got), want, Tolerance.Fp32);
        output.WriteLine($"{arch} {image}: {want.Shape[0]} tokens x {want.Shape[1]}, grid {pre.Grid}, " +
            $"max |run - reference| = {cmp.MaxAbs:E2}");
        cmp.Passed.Should().BeTrue(cmp.Failure);
        r.Stdout.Should().Contain($"{tokens} tokens [{tokens}, {want.Shape[1]}]").And.Contain($"grid_thw 1x{pre.Grid.H}x{pre.Grid.W}");
    }

    [Theory]
    [InlineData("qwen2vl", "qwen2vl-tiny")]
    [InlineData("qwen25vl", "qwen25vl-tiny")]
    public void Run_tokens_equal_the_reference_on_the_original_processors_pixel_values(string arch, string fixture)
    {
        // End to end against the ORIGINAL processor: the reference is fed the golden pixel_values + grid_thw that
        // Qwen2VLImageProcessor made of small_300x200.png (min 3136, max 200704), not ModelForge's preprocessing.
        using var tmp = new TempDir();
        string golden = Repo.Fixture("golden", "preprocess", "qwen2vl_small_300x200.safetensors");
        string image = Repo.Fixture("golden", "preprocess", "small_300x200.png");
        var r = Support.Cli.Run("run", "--onnx", _exports.Folder[arch], "--image", image,
            "--min-pixels", "3136", "--max-pixels", "200704", "--out", tmp.File("t.safetensors"));
        r.ExitCode.Should().Be(0, r.ToString());
        HostTensor want;
        using (var g = SafetensorsFile.Open(golden))
        {
            var grid = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(g.GetBytes("grid_thw")).ToArray();
            want = Reference(fixture, new Dictionary<string, HostTensor>
            {
                ["pixel_values"] = new HostTensor(g.Get("pixel_values").Shape, g.ReadAsFloat32("pixel_values")),
                ["grid_thw"] = new HostTensor([1, 3], grid),
            });
        }
        using var file = SafetensorsFile.Open(tmp.File("t.safetensors"));
        var got = new HostTensor(file.Get("tokens").Shape, file.ReadAsFloat32("tokens"));
        var cmp = TensorComparator.Compare("tokens", got, want, Tolerance.Fp32);
        output.WriteLine($"{arch}: {want.Shape[0]} tokens, max |run - reference on the original's pixels| = {cmp.MaxAbs:E2}");
        cmp.Passed.Should().BeTrue(cmp.Failure);
    }

    [Fact]
    public void Json_output_describes_the_run()
    {
        using var tmp = new TempDir();
        string small = Repo.Fixture("golden", "preprocess", "small_300x200.png");
        var r = Support.Cli.Run("run", "--onnx", _exports.Folder["qwen25vl"], "--image", small,
            "--out", tmp.File("t.safetensors"), "--min-pixels", "3136", "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        root.GetProperty("tokens").GetInt64().Should().Be(77);
        root.GetProperty("architecture").GetString().Should().Be("qwen25vl");
        root.GetProperty("grid_thw").EnumerateArray().Select(e => e.GetInt32()).Should().Equal(1, 14, 22);
        root.GetProperty("resized").EnumerateArray().Select(e => e.GetInt32()).Should().Equal(308, 196);
        root.GetProperty("max_pixels").GetInt32().Should().Be(Qwen2VlSmartResize.ReleasedMaxPixels);
        root.GetProperty("pixels_from").GetString().Should().Contain("--min-pixels");
    }

    [Fact]
    public void The_manifests_preprocessing_sets_the_pixel_bounds_and_options_override_it()
    {
        // An export from an HF folder records its preprocessor_config.json as "preprocessing"; edited in here.
        using var tmp = new TempDir();
        string folder = tmp.File("export");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(_exports.Folder["qwen25vl"])) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        void Preprocessing(int patch)
        {
            var m = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")))!.AsObject();
            m["preprocessing"] = System.Text.Json.Nodes.JsonNode.Parse(
                $$"""{"patch_size": {{patch}}, "temporal_patch_size": 2, "merge_size": 2, "min_pixels": 3136, "max_pixels": 200704}""");
            File.WriteAllText(Path.Combine(folder, "manifest.json"), m.ToJsonString());
        }
        Preprocessing(14);
        string wide = Repo.Fixture("golden", "preprocess", "wide_1600x900.png");
        int Tokens(params string[] extra)
        {
            var r = Support.Cli.Run(["run", "--onnx", folder, "--image", wide, "--out", tmp.File("t.safetensors"), "--json", .. extra]);
            r.ExitCode.Should().Be(0, r.ToString());
            using var doc = JsonDocument.Parse(r.Stdout);
            return doc.RootElement.GetProperty("tokens").GetInt32();
        }
        Tokens().Should().Be(Qwen2VlSmartResize.Tokens(900, 1600, maxPixels: 200704));
        Tokens("--max-pixels", "401408").Should().Be(Qwen2VlSmartResize.Tokens(900, 1600, maxPixels: 401408));
        Qwen2VlSmartResize.Tokens(900, 1600, maxPixels: 200704).Should().NotBe(Qwen2VlSmartResize.Tokens(900, 1600, maxPixels: 401408));

        Preprocessing(16);
        var bad = Support.Cli.Run("run", "--onnx", folder, "--image", wide, "--out", tmp.File("u.safetensors"));
        bad.ExitCode.Should().Be(2, bad.ToString());
        bad.Stderr.Should().Contain("preprocessing.patch_size is 16 but the graph's config has 14");
        File.Exists(tmp.File("u.safetensors")).Should().BeFalse();
    }

    [Fact]
    public void Bad_options_and_images_are_one_line_refusals_and_write_nothing()
    {
        using var tmp = new TempDir();
        string small = Repo.Fixture("golden", "preprocess", "small_300x200.png");
        string qwen = _exports.Folder["qwen25vl"];
        string outPath = tmp.File("t.safetensors");
        Refused(["--onnx", qwen, "--image", small, "--max-pixels", "100"], "--max-pixels 100", "784");
        Refused(["--onnx", qwen, "--image", small, "--min-pixels", "0"], "--min-pixels 0");
        Refused(["--onnx", qwen, "--image", small, "--min-pixels", "500000", "--max-pixels", "200704"],
            "min_pixels 500000 is above max_pixels 200704");
        Refused(["--onnx", qwen, "--image", small, "--min-pixels", "20000000"], "--min-pixels", "max_pixels from the released");
        Refused(["--onnx", qwen, "--image", small, "--mode", "gundam"], "--mode gundam", "no modes");
        Refused(["--onnx", _exports.Folder["qwen2vl"], "--image", small, "--max-tiles", "4"], "--max-tiles 4", "do not tile");
        Refused(["--onnx", Path.Combine(qwen, "model.onnx"), "--image", small], "give its export folder");
        Refused(["--onnx", qwen, "--image", tmp.File("missing.png")], "--image", "not found");
        string manifest = Path.Combine(qwen, "manifest.json");
        long manifestBytes = new FileInfo(manifest).Length;
        foreach (var (target, says) in new[] { (small, "an input of this run"), (manifest, "a file of") })
        {
            var r = Support.Cli.Run("run", "--onnx", qwen, "--image", small, "--out", target);
            r.ExitCode.Should().Be(2, r.ToString());
            r.Stderr.Should().Contain(says);
        }
        new FileInfo(manifest).Length.Should().Be(manifestBytes, "--out never overwrites an input");

        // The Qwen options on another family's artifact, and the DeepSeek-OCR ones on a Qwen artifact (above).
        string deTiny = Repo.Golden("deepencoder-tiny");
        var de = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(deTiny, "model.safetensors"),
            "--config", Path.Combine(deTiny, "fixture.json"), "--out", tmp.File("de"));
        de.ExitCode.Should().Be(0, de.ToString());
        Refused(["--onnx", tmp.File("de"), "--image", small, "--max-pixels", "200704"],
            "--min-pixels / --max-pixels", "a deepencoder artifact");

        // An aspect ratio smart_resize refuses (above 200), named by --image.
        string thin = tmp.File("thin.png");
        Reliability.ImageBoundsTests.WriteBlackPng(thin, 600, 2);
        Refused(["--onnx", qwen, "--image", thin], "thin.png", "aspect ratio above 200");

        // 4000x3000 at the released max_pixels: 4004x2996 = 61,204 patches in one frame; full attention with 4 heads would
        // need one 55.8 GiB activation: refused before any session, with the --max-pixels that fits.
        string big = tmp.File("big.png");
        Reliability.ImageBoundsTests.WriteBlackPng(big, 4000, 3000);
        var line = Refused(["--onnx", qwen, "--image", big], "big.png", "16 GiB", "--max-pixels");
        output.WriteLine(line);
        File.Exists(outPath).Should().BeFalse();

        string[] Args(string[] a) => ["run", .. a, "--out", outPath];
        string Refused(string[] a, params string[] says)
        {
            var r = Support.Cli.Run(Args(a));
            r.ExitCode.Should().Be(2, r.ToString());
            var lines = r.Stderr.Split('\n').Where(l => l.StartsWith("modelforge:", StringComparison.Ordinal)).ToArray();
            lines.Should().ContainSingle(r.ToString());
            foreach (var s in says) lines[0].Should().Contain(s);
            r.Stderr.Should().NotContain("   at ");
            File.Exists(outPath).Should().BeFalse();
            return lines[0];
        }
    }

    [Theory]
    [InlineData("qwen2vl")]
    [InlineData("qwen25vl")]
    public void Bundle_manifests_describe_the_preprocessing_run_does(string arch)
    {
        // What a TensorRT bundle tells a deployment to feed: the same processor parameters run uses by default.
        var d = ModelForge.Validators.Bundles.BundleDescriptions.Preprocessing(arch, null, []);
        d["min_pixels"].Should().Be(Qwen2VlProcessorConfig.Released.MinPixels);
        d["max_pixels"].Should().Be(Qwen2VlProcessorConfig.Released.MaxPixels);
        ((double[])d["mean"]!).Select(v => (float)v).Should().Equal(Qwen2VlProcessorConfig.ClipMean);
        ((double[])d["std"]!).Select(v => (float)v).Should().Equal(Qwen2VlProcessorConfig.ClipStd);
        ((string)d["processor"]!).Contains("window order", StringComparison.Ordinal).Should().Be(arch == "qwen25vl");
    }

    /// <summary>image_features of the fixture's graph on the TorchSharp path, calls planned and joined by the family.</summary>
    private static HostTensor Reference(string fixture, IReadOnlyDictionary<string, HostTensor> inputs)
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        string dir = Repo.Golden(fixture);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "fixture.json")));
        var config = doc.RootElement.Clone();
        var arch = ArchitectureRegistry.Get(config.GetProperty("architecture").GetString()!);
        var graph = arch.Build(config, new BuildRequest());
        graph.PruneUnused();
        using var checkpoint = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        using var ev = new TorchEvaluator(graph, new CheckpointWeights(checkpoint, arch.AdapterFor(config)), new TorchEvalOptions());
        var results = arch.PlanCalls(config, inputs).Select(call => ev.Run(call)).ToList();
        return arch.CombineCalls(config, results)["image_features"];
    }
}
