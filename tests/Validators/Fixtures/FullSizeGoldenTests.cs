using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Tools;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>
/// The released-size DeepEncoder (401,369,600 parameters) at 640x640 (Small mode) against the original PyTorch output:
/// the checkpoint is written by the C# port of the deterministic generator (md5 checked), exported to ONNX with external
/// data (1.6 GB of f32 weights), run by ONNX Runtime and by the TorchSharp reference.
/// </summary>
public class FullSizeGoldenTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void Released_size_encoder_matches_the_original_at_640()
    {
        using var dir = new TempDir();
        foreach (var f in new[] { "fixture.json", "golden.safetensors" })
            File.Copy(Path.Combine(Repo.Golden("deepencoder-full-640"), f), dir.File(f));
        // The shared once-per-run checkpoint (md5 checked when written), hard-linked (a regular file, no copy).
        SharedSyntheticCheckpoint.LinkInto(dir.File("model.safetensors"));

        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var fixture = GoldenFixture.Load(dir.Path);
        var report = new ParityRunner(new ValidationOptions()).RunFixture(fixture);
        foreach (var o in report.AllOutputs)
            output.WriteLine($"{o.Comparison,-22} {o.Output,-20} max_abs={o.Result.MaxAbs:E2} cos={o.Result.Cosine:F7} " +
                $"{(o.Result.Passed ? "ok" : o.Result.Failure)}");
        foreach (var (k, v) in report.Cases[0].Seconds) output.WriteLine($"{k}: {v:F1} s");
        report.AllOutputs.Should().Contain(o => o.Comparison == "exported vs golden" && o.Output == "global_view_tokens");
        report.AllOutputs.Should().Contain(o => o.Comparison == "reference vs golden" && o.Output == "global_view_tokens");
        report.AllOutputs.Where(o => !o.Result.Passed).Should().BeEmpty();
    }
}
