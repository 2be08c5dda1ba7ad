using System.Runtime.InteropServices;
using FluentAssertions;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Bundles;

/// <summary>
/// Execution providers on this CPU-only machine: the refusal lines of both build flavours (the GPU flavour is the
/// -p:OrtFlavor=gpu build that .ci/run makes before the tests), and IOBinding on the CPU provider.
/// </summary>
public class ExecutionProviderTests(ITestOutputHelper output)
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    [Theory]
    [InlineData("cuda", "CUDAExecutionProvider", "libonnxruntime_providers_cuda.so")]
    [InlineData("tensorrt", "TensorrtExecutionProvider", "libonnxruntime_providers_tensorrt.so")]
    public void The_cpu_flavour_refuses_gpu_providers_in_one_line(string ep, string provider, string library)
    {
        ModelForge.Converters.Bundles.BuildInfo.OrtFlavor.Should().Be("cpu");
        // validate, run, bench and compare --measure resolve --ep the same way: the same line, before any work.
        string[][] commands =
        [
            ["validate", "--fixture", Tiny, "--ep", ep],
            ["run", "--onnx", Tiny, "--image", "x.png", "--out", "t.safetensors", "--ep", ep],
            ["bench", Tiny, "--ep", ep],
            ["compare", "--measure", "--ep", ep, "--out", Path.Combine(Path.GetTempPath(), "modelforge-never-written")],
        ];
        foreach (var args in commands)
        {
            var r = Support.Cli.Run(args);
            r.ExitCode.Should().Be(2, r.ToString());
            r.Stderr.Trim().Split('\n')
                .Should().ContainSingle().Which.Should().Contain($"--ep {ep}").And.Contain(provider).And.Contain(library)
                .And.Contain("-p:OrtFlavor=gpu");
        }
    }

    /// <summary>The GPU-flavour CLI beside this test build (src/Cli/bin/gpu/CONFIG/net10.0), built by .ci/run; null when absent.</summary>
    private static string? GpuFlavourCli()
    {
        string config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        string dll = Path.Combine(Repo.Root, "src", "Cli", "bin", "gpu", config, "net10.0", "modelforge.dll");
        return File.Exists(dll) ? dll : null;
    }

    [Theory]
    [InlineData("cuda", "libcudart.so.13", "libcublasLt.so.13", "libcudnn.so.9")]
    [InlineData("tensorrt", "libnvinfer.so.10", "libnvonnxparser.so.10", "libcudart.so.13")]
    public void The_gpu_flavour_names_the_missing_cuda_and_tensorrt_libraries(string ep, string lib1, string lib2, string lib3)
    {
        string? dll = GpuFlavourCli();
        if (dll is null || NativeLibrary.TryLoad(lib1, out _))
        {
            // Nothing to refuse where the libraries exist; nothing to run without the GPU-flavour build.
            output.WriteLine(dll is null
                ? "GPU-flavour build not present (.ci/run builds it): not checked"
                : $"{lib1} loads here: not a refusal case");
            return;
        }
        foreach (var command in new[] { "validate", "bench" })
        {
            string[] args = command == "validate" ? [dll, "validate", "--fixture", Tiny, "--ep", ep] : [dll, "bench", Tiny, "--ep", ep];
            var psi = new System.Diagnostics.ProcessStartInfo("dotnet", args)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var p = System.Diagnostics.Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit(120_000).Should().BeTrue();
            output.WriteLine(err);
            p.ExitCode.Should().Be(2, command);
            err.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain($"--ep {ep}").And.Contain("cannot load: missing")
                .And.Contain(lib1).And.Contain(lib2).And.Contain(lib3);
        }
    }

    [Fact]
    public void IoBinding_on_the_cpu_gives_the_outputs_of_a_plain_run()
    {
        using var tmp = new TempDir();
        var arch = ArchitectureRegistry.Get("deepencoder");
        using var cfg = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Tiny, "fixture.json")));
        var summary = ExportPipeline.Run(new ExportRequest(arch, Path.Combine(Tiny, "model.safetensors"), cfg.RootElement,
            [new ArtifactPart("model", new BuildRequest())], tmp.File("a"), new OnnxExportOptions()));
        var graph = arch.Build(cfg.RootElement, new BuildRequest());
        var inputs = InputSets.Random(graph, 3, 2);
        using var runner = new OrtRunner(summary.Parts[0].ModelPath);
        var plain = runner.Run(inputs);
        using var bound = runner.Bind(inputs, ["global_view_tokens", "sam"]);
        bound.OutputsOnDevice.Should().BeFalse();
        bound.Run();
        bound.Run(); // repeated runs reuse the bindings
        var outputs = bound.CopyOutputs();
        outputs.Keys.Should().BeEquivalentTo("global_view_tokens", "sam");
        foreach (var (name, t) in outputs)
        {
            t.Shape.Should().Equal(plain[name].Shape);
            t.Floats.Should().Equal(plain[name].Floats, name);
        }
        FluentActions.Invoking(() => OrtBoundRun.Create(runner, new Dictionary<string, ModelForge.Graphs.Ir.HostTensor>()))
            .Should().Throw<ArgumentException>().WithMessage("*input 'pixel_values' not given*");
    }
}
