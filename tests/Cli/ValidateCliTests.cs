using System.Text.Json;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Tests.Support;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>`modelforge validate` beyond the fp32 golden run: precisions, random-input parity, modes, devices.</summary>
public class ValidateCliTests(ITestOutputHelper output)
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    [Theory]
    [InlineData("bf16")]
    [InlineData("fp16")]
    public void Reduced_precision_reference_passes_with_its_default_tolerance_and_fails_with_fp32s(string precision)
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("validate", "--fixture", Tiny, "--precision", precision, "--no-traces", "--report", tmp.File("r.json"));
        output.WriteLine(r.Stdout);
        r.ExitCode.Should().Be(0, r.ToString());
        using var json = JsonDocument.Parse(File.ReadAllText(tmp.File("r.json")));
        json.RootElement.GetProperty("precision").GetString().Should().Be(precision == "bf16" ? "bf16" : "f16");
        var cosines = json.RootElement.GetProperty("cases").EnumerateArray().SelectMany(c => c.GetProperty("outputs").EnumerateArray())
            .Where(o => o.GetProperty("comparison").GetString() == "reference vs golden").Select(o => o.GetProperty("cosine").GetDouble())
            .ToArray();
        cosines.Should().NotBeEmpty().And.OnlyContain(c => c > 0.999);

        // The same run held to fp32 tolerances must fail: the reduced precision is really used.
        var strict = Support.Cli.Run("validate", "--fixture", Tiny, "--precision", precision, "--no-traces", "--atol", "1e-4", "--rtol",
            "1e-4");
        strict.ExitCode.Should().Be(1, strict.ToString());
    }

    [Fact]
    public void Random_input_parity_of_a_checkpoint_without_goldens()
    {
        var r = Support.Cli.Run("validate", "--arch", "deepencoder", "--checkpoint", Path.Combine(Tiny, "model.safetensors"),
            "--config", Path.Combine(Tiny, "fixture.json"), "--image-size", "192", "--inputs", "random", "--seed", "3", "--batch", "2");
        output.WriteLine(r.Stdout);
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("exp vs ref").And.Contain("global_view_tokens").And.Contain("PASS");
    }

    [Fact]
    public void Cuda_without_a_cuda_libtorch_is_one_clear_line()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("validate", "--fixture", Tiny, "--device", "cuda", "--libtorch", tmp.Path);
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("libtorch_cuda.so");
    }

    /// <summary>Each mode's graphs (global, and the dynamic-tile local graph of Gundam modes) at the tiny config's scaled sizes.</summary>
    [Theory]
    [InlineData("tiny")]
    [InlineData("small")]
    [InlineData("base")]
    [InlineData("large")]
    [InlineData("gundam")]
    [InlineData("gundam-m")]
    public void Mode_graphs_agree_on_both_paths(string mode)
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        var arch = ArchitectureRegistry.Get("deepencoder");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(Tiny, "fixture.json")));
        using var ckpt = ModelForge.Converters.Checkpoints.Checkpoint.Open(Path.Combine(Tiny, "model.safetensors"));
        foreach (var part in arch.PlanMode(config.RootElement, mode))
        {
            var graph = arch.Build(config.RootElement, part.Request);
            var inputs = InputSets.Random(graph, seed: 1, batch: part.Request.Tiles ? 3 : 1);
            var report = new ParityRunner(new ValidationOptions()).RunInputs($"{mode}/{part.Name}", arch, graph, ckpt, inputs);
            foreach (var o in report.AllOutputs) output.WriteLine($"{mode}/{part.Name} {o.Output} max_abs={o.Result.MaxAbs:E2}");
            report.AllOutputs.Should().NotBeEmpty();
            report.Passed.Should().BeTrue();
        }
    }
}
