using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>`modelforge validate` on the Qwen families through the CLI: goldens, random processor batches, a batch file.</summary>
public class QwenCliTests(ITestOutputHelper output)
{
    [Fact]
    public void Golden_fixture_validates_through_the_cli()
    {
        // In-process parity is Qwen25VlGoldenTests; this checks the CLI wiring (planning, joining, traces, exit code).
        var r = Support.Cli.Run("validate", "--fixture", Repo.Golden("qwen25vl-tiny"));
        output.WriteLine(r.Stdout);
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("image_feature").And.Contain("PASS").And.NotContain("FAIL").And.Contain("18 trace comparisons");
    }

    [Theory]
    [InlineData("qwen2vl", "qwen2vl-tiny")]
    [InlineData("qwen25vl", "qwen25vl-tiny")]
    public void Random_processor_batches_are_planned_into_calls(string arch, string fixture)
    {
        // --inputs random gives the family's processor-style sample (images of different sizes + grid_thw), not noise in
        // the index inputs; two images -> two calls (qwen25vl: one per frame), joined before comparing.
        var dir = Repo.Golden(fixture);
        var r = Support.Cli.Run("validate", "--arch", arch, "--checkpoint", Path.Combine(dir, "model.safetensors"),
            "--config", Path.Combine(dir, "fixture.json"), "--inputs", "random", "--batch", "2");
        output.WriteLine(r.Stdout);
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("image_feature").And.Contain("PASS");
    }

    [Fact]
    public void A_processor_batch_file_with_grid_thw_is_accepted_and_a_wrong_one_is_one_line()
    {
        using var tmp = new TempDir();
        var dir = Repo.Golden("qwen25vl-tiny");
        using (var f = GoldenFixture.Load(dir))
        {
            var c = f.Cases[1];
            var px = c.Inputs["pixel_values"];
            var grid = c.Inputs["grid_thw"];
            SafetensorsWriter.Write(tmp.File("batch.safetensors"),
            [
                new WritableTensor("pixel_values", DataType.Float32, px.Shape,
                    () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(px.Data.AsSpan()).ToArray()),
                new WritableTensor("grid_thw", DataType.Int64, grid.Shape,
                    () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(grid.Longs!.AsSpan()).ToArray()),
            ]);
            var wrongGrid = new long[] { 1, 6, 6, 1, 4, 6 };
            SafetensorsWriter.Write(tmp.File("wrong.safetensors"),
            [
                new WritableTensor("pixel_values", DataType.Float32, px.Shape,
                    () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(px.Data.AsSpan()).ToArray()),
                new WritableTensor("grid_thw", DataType.Int64, [2, 3],
                    () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(wrongGrid.AsSpan()).ToArray()),
            ]);
        }
        string[] common = ["validate", "--arch", "qwen25vl", "--checkpoint", Path.Combine(dir, "model.safetensors"), "--config",
            Path.Combine(dir, "fixture.json"), "--inputs"];
        var ok = Support.Cli.Run([.. common, tmp.File("batch.safetensors")]);
        ok.ExitCode.Should().Be(0, ok.ToString());
        var bad = Support.Cli.Run([.. common, tmp.File("wrong.safetensors")]);
        bad.ExitCode.Should().Be(2, bad.ToString());
        // Progress goes to stderr as timestamped phase lines when it is not a terminal; the error itself is one line.
        bad.Stderr.Split('\n').Where(l => l.StartsWith("modelforge:", StringComparison.Ordinal))
            .Should().ContainSingle().Which.Should().Contain("grid_thw");
    }
}
