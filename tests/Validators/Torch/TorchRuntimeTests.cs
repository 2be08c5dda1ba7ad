using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Torch;
using TorchSharp;
using Xunit;

namespace ModelForge.Tests.Validators.Torch;

/// <summary>
/// TorchRuntime on a machine without a GPU or a CUDA libtorch (every development machine): CPU works, CUDA is
/// refused with one clear line. The process must survive, so misconfigurations are found before anything is loaded.
/// </summary>
public class TorchRuntimeTests
{
    private const string Prefix = "--device cuda: no CUDA libtorch could be loaded (set MODELFORGE_LIBTORCH or --libtorch";

    [Fact]
    public void Cpu_initialises_once_and_computes()
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        TorchRuntime.Initialize(ComputeDevice.Cpu); // idempotent
        TorchRuntime.ToTorch(ComputeDevice.Cpu).type.Should().Be(DeviceType.CPU);
        TorchRuntime.ToTorch(ComputeDevice.Cuda).type.Should().Be(DeviceType.CUDA); // a description: no CUDA needed
        using var t = torch.ones(3, device: TorchRuntime.ToTorch(ComputeDevice.Cpu));
        using var s = t.sum();
        s.item<float>().Should().Be(3f);
    }

    [Fact]
    public void Cuda_without_libtorch_cuda_so_is_refused_before_loading()
    {
        using var tmp = new TempDir();
        var act = () => TorchRuntime.Initialize(ComputeDevice.Cuda, tmp.Path);
        var e = act.Should().Throw<TorchUnavailableException>().Which;
        e.Message.Should().StartWith(Prefix).And.Contain(Path.Combine(tmp.Path, "libtorch_cuda.so") + " not found").And.NotContain("\n");
        TorchRuntime.CudaAvailable.Should().BeFalse();

        // The refusal leaves the process usable on the CPU.
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var t = torch.arange(4);
        t.sum().item<long>().Should().Be(6);
    }

    [Fact]
    public void Cuda_with_an_empty_directory_argument_names_the_setting()
    {
        var act = () => TorchRuntime.Initialize(ComputeDevice.Cuda, " ");
        act.Should().Throw<TorchUnavailableException>().WithMessage(Prefix + "*no libtorch directory given");
        TorchRuntime.CudaAvailable.Should().BeFalse();
    }

    /// <summary>
    /// A libtorch_cuda.so that the loader rejects (here: not an ELF file) is a load failure, reported in one line
    /// by the CLI (exit 2); run as a separate process, where TorchSharp has not yet been started on the CPU.
    /// </summary>
    [Fact]
    public void Cuda_with_an_unloadable_libtorch_is_one_line_from_the_cli()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("libtorch_cuda.so"), "not a shared library");
        var r = Support.Cli.Run("validate", "--fixture", Repo.Golden("deepencoder-tiny"), "--device", "cuda", "--libtorch", tmp.Path);
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(Prefix[15..]).And.Contain("libtorch_cuda.so");
    }
}
