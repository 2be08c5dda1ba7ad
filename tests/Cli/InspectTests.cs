using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>`modelforge inspect` on checkpoints (family detection) and on ONNX files.</summary>
public class InspectTests
{
    [Theory]
    [InlineData("deepencoder-tiny", "looks like a deepencoder checkpoint")]
    [InlineData("vary-tiny", "looks like a vary checkpoint")]
    [InlineData("qwen2vl-tiny", "looks like a qwen2vl checkpoint")]
    [InlineData("qwen25vl-tiny", "looks like a qwen25vl checkpoint")]
    public void Checkpoints_list_tensors_and_the_family(string fixture, string verdict)
    {
        var r = Support.Cli.Run("inspect", Path.Combine(Repo.Golden(fixture), "model.safetensors"), "--limit", "3");
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain(verdict).And.Contain("tensors,");
    }

    [Fact]
    public void Onnx_files_show_opset_inputs_outputs_and_ops()
    {
        using var tmp = new TempDir();
        var tiny = Repo.Golden("deepencoder-tiny");
        Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(tiny, "model.safetensors"), "--config",
            Path.Combine(tiny, "fixture.json"),
            "--out", tmp.File("a"), "--opset", "20").ExitCode.Should().Be(0);
        var r = Support.Cli.Run("inspect", tmp.File("a/model.onnx"));
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("opset 20").And.Contain("input  pixel_values: f32[B, 3, 256, 256]").And.Contain("global_view_tokens")
            .And.Contain("Gelu");
    }
}
