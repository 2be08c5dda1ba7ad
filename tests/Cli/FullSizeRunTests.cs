using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using ModelForge.Tools;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// The documented token counts on the released-size encoder (synthetic deterministic checkpoint, 401M parameters):
/// `export --mode` then `run` on a test page. Gundam on the 700x1000 page tiles it 2x3: 903 tokens; Tiny: 73.
/// </summary>
public class FullSizeRunTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void Released_size_modes_give_the_documented_token_counts()
    {
        using var tmp = new TempDir();
        string ckpt = SharedSyntheticCheckpoint.File;
        string page = Repo.Fixture("golden", "preprocess", "tall_700x1000.png");
        foreach (var (mode, tokens) in new[] { ("tiny", 73), ("gundam", 903) })
        {
            string dir = tmp.File(mode);
            var export = Support.Cli.Run(TimeSpan.FromMinutes(10), "export", "--arch", "deepencoder", "--checkpoint", ckpt, "--mode", mode,
                "--out", dir);
            output.WriteLine(export.Stdout);
            export.ExitCode.Should().Be(0, export.ToString());
            var run = Support.Cli.Run(TimeSpan.FromMinutes(10), "run", "--onnx", dir, "--image", page, "--out",
                tmp.File($"{mode}.safetensors"));
            output.WriteLine(run.Stdout);
            run.ExitCode.Should().Be(0, run.ToString());
            using var file = SafetensorsFile.Open(tmp.File($"{mode}.safetensors"));
            file.Get("tokens").Shape.Should().Equal(tokens, 1280);
            file.ReadAsFloat32("tokens").Should().OnlyContain(v => float.IsFinite(v));
            Directory.Delete(dir, true);
        }
    }
}
