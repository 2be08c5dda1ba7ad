using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Blocks;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// `export --mode` + `run` on the bundled tiny DeepEncoder checkpoint (sizes scaled 256/1024 from the released modes) and
/// the golden test images: token counts follow the layout rule, Gundam takes any tile count without re-export.
/// </summary>
public class ModeRunTests(ITestOutputHelper output, ModeRunTests.Exports exports) : IClassFixture<ModeRunTests.Exports>
{
    /// <summary>One export per mode, shared by the tests of this class.</summary>
    public sealed class Exports : IDisposable
    {
        public TempDir Dir { get; } = new();

        private readonly Dictionary<string, string> _byMode = [];

        public string For(string mode)
        {
            lock (_byMode)
            {
                if (_byMode.TryGetValue(mode, out var d)) return d;
                string dir = Dir.File(mode);
                var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint",
                    Repo.Golden("deepencoder-tiny") + "/model.safetensors",
                    "--config", Repo.Golden("deepencoder-tiny") + "/fixture.json", "--mode", mode, "--out", dir);
                if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
                return _byMode[mode] = dir;
            }
        }

        public void Dispose() => Dir.Dispose();
    }

    [Theory]
    [InlineData("tiny", "wide_1600x900.png")]
    [InlineData("small", "tall_700x1000.png")]
    [InlineData("base", "small_300x200.png")]
    [InlineData("large", "wide_1600x900.png")]
    [InlineData("gundam", "wide_1600x900.png")]
    [InlineData("gundam", "tall_700x1000.png")]
    [InlineData("gundam", "small_300x200.png")]
    [InlineData("gundam-m", "tall_700x1000.png")]
    public void Run_gives_the_layout_token_count(string mode, string image)
    {
        string dir = exports.For(mode);
        using var tmp = new TempDir();
        string imagePath = Repo.Fixture("golden", "preprocess", image);
        var r = Support.Cli.Run("run", "--onnx", dir, "--image", imagePath, "--out", tmp.File("tokens.safetensors"));
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(0, r.ToString());

        var m = DeepSeekOcrMode.Parse(mode).Scaled(256, 16);
        var cfg = DeepEncoderConfig.Default with { Sam = new SamConfig { ImageSize = 256 } };
        var picture = ImageLoader.Load(imagePath);
        var pre = DeepSeekOcrPreprocessor.Preprocess(picture, m);
        int expected = DeepSeekOcrTokenLayout.TokenCount(cfg.Grids(m.BaseSize).ClipGrid, m.TileSize is { } t ? cfg.Grids(t).ClipGrid : 0,
            pre.Tiles.Count > 0 ? pre.TilesWide : 0, pre.Tiles.Count > 0 ? pre.TilesHigh : 0);
        using var tokens = SafetensorsFile.Open(tmp.File("tokens.safetensors"));
        tokens.Get("tokens").Shape.Should().Equal(expected, 96);
        r.Stdout.Should().Contain($"{expected} tokens");
        tokens.ReadAsFloat32("tokens").Should().OnlyContain(v => float.IsFinite(v));
    }

    [Fact]
    public void Gundam_local_graph_takes_two_to_nine_tiles_without_reexport()
    {
        string dir = exports.For("gundam");
        using var runner = new ModelForge.Validators.Onnx.OrtRunner(Path.Combine(dir, "local.onnx"));
        var rng = new Random(5);
        foreach (int tiles in new[] { 2, 5, 9 })
        {
            var data = new float[tiles * 3 * 160 * 160];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            var outs = runner.Run(new Dictionary<string, ModelForge.Graphs.Ir.HostTensor> { ["pixel_values"] = new([tiles, 3, 160, 160],
                data) });
            outs["projected"].Shape.Should().Equal(tiles, 9, 96);
        }
    }
}
