using System.Runtime.InteropServices;
using TorchSharp;

namespace ModelForge.Validators.Torch;

/// <summary>Where the reference path computes.</summary>
public enum ComputeDevice
{
    /// <summary>The CPU, through the libtorch-cpu NuGet package.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU, through a CUDA libtorch loaded from a folder (see <see cref="TorchRuntime.LibTorchEnvVar"/>).</summary>
    Cuda,
}

/// <summary>The reference path cannot run on the requested device (no CUDA libtorch, no GPU): the message is one line.</summary>
public sealed class TorchUnavailableException(string message) : Exception(message);

/// <summary>
/// Initialises TorchSharp once per process. CPU uses the libtorch-cpu NuGet package. CUDA has no NuGet package here,
/// so a CUDA libtorch is loaded from a folder (a Python PyTorch install's torch/lib works: TorchSharp 0.107 was seen
/// to load PyTorch 2.11's libraries, docs/GPU.md) given by --libtorch or MODELFORGE_LIBTORCH, before TorchSharp
/// initialises. Only load failures are turned into exceptions: a libtorch error inside an op can terminate the
/// process (docs/ENVIRONMENT.md), so nothing here runs an op to probe the device.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Environment variable naming a folder with libtorch_cuda.so (and the libraries it needs), e.g. the torch/lib
    /// folder of a PyTorch install; used when <see cref="Initialize"/> gets no explicit folder.
    /// </summary>
    public const string LibTorchEnvVar = "MODELFORGE_LIBTORCH";

    private const string CudaPrefix = "--device cuda: no CUDA libtorch could be loaded (set " + LibTorchEnvVar
        + " or --libtorch to a directory with libtorch_cuda.so, e.g. the torch/lib folder of a PyTorch install): ";

    private static readonly object Gate = new();
    private static bool _cpuReady, _cudaReady;

    /// <summary>
    /// True once <see cref="Initialize"/> succeeded for <see cref="ComputeDevice.Cuda"/>; false (never throws) otherwise.
    /// </summary>
    public static bool CudaAvailable
    {
        get { lock (Gate) return _cudaReady; }
    }

    /// <summary>The TorchSharp device for <paramref name="d"/>; describing CUDA does not initialise it.</summary>
    // Not torch.CUDA: that property initialises the CUDA backend (and throws where there is none).
    public static torch.Device ToTorch(ComputeDevice d) => new(d == ComputeDevice.Cuda ? DeviceType.CUDA : DeviceType.CPU);

    /// <summary>
    /// Makes TorchSharp usable on <paramref name="device"/>, or throws <see cref="TorchUnavailableException"/> with one
    /// line naming what is missing. Repeated calls are cheap. For CUDA, <paramref name="libtorchDir"/> (or else the
    /// <see cref="LibTorchEnvVar"/> variable) names the folder with libtorch_cuda.so; it is loaded before
    /// libLibTorchSharp.so so that TorchSharp binds to it instead of looking for a CUDA NuGet package.
    /// Initialise CUDA before anything uses TorchSharp on the CPU: a process that already loaded the CPU libtorch
    /// cannot switch to another libtorch build.
    /// </summary>
    public static void Initialize(ComputeDevice device, string? libtorchDir = null)
    {
        lock (Gate)
        {
            if (device == ComputeDevice.Cpu) InitializeCpu();
            else InitializeCuda(libtorchDir);
        }
    }

    private static void InitializeCpu()
    {
        if (_cpuReady || _cudaReady) return; // a CUDA libtorch computes on the CPU too
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException
            or InvalidOperationException)
        {
            throw new TorchUnavailableException(
                $"TorchSharp could not load libtorch for the CPU: {FirstSentence(e.GetBaseException().Message)}");
        }
        _cpuReady = true;
    }

    private static void InitializeCuda(string? libtorchDir)
    {
        if (_cudaReady) return;
        string? dir = libtorchDir ?? Environment.GetEnvironmentVariable(LibTorchEnvVar);
        // Configuration problems are found by looking at files, before anything is loaded: a half-loaded libtorch
        // can take the process down instead of throwing.
        if (string.IsNullOrWhiteSpace(dir))
            throw new TorchUnavailableException(CudaPrefix + "no libtorch directory given");
        string cudaLib = Path.Combine(Path.GetFullPath(dir), "libtorch_cuda.so");
        if (!File.Exists(cudaLib))
            throw new TorchUnavailableException(CudaPrefix + $"{cudaLib} not found");
        if (_cpuReady)
            throw new TorchUnavailableException(
                CudaPrefix + "TorchSharp already runs on the CPU libtorch in this process (initialise CUDA first)");
        string bridge = new[]
            {
                Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
                Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            }.FirstOrDefault(File.Exists)
            ?? throw new TorchUnavailableException(CudaPrefix + $"libLibTorchSharp.so not found in {AppContext.BaseDirectory}");
        try
        {
            // Order matters: the CUDA libtorch must be resident before LibTorchSharp binds its symbols.
            NativeLibrary.Load(cudaLib);
            string c10Cuda = Path.Combine(Path.GetDirectoryName(cudaLib)!, "libc10_cuda.so");
            if (File.Exists(c10Cuda)) NativeLibrary.Load(c10Cuda);
            NativeLibrary.Load(bridge);
            torch.InitializeDeviceType(DeviceType.CUDA);
        }
        catch (Exception e) // a load boundary: whatever the loader or TorchSharp reports becomes the one-line reason
        {
            throw new TorchUnavailableException(CudaPrefix + FirstSentence(e.GetBaseException().Message));
        }
        if (!torch.cuda.is_available())
            throw new TorchUnavailableException(CudaPrefix + $"libtorch from {dir} loaded but reports no CUDA device");
        _cudaReady = true;
    }

    /// <summary>Loader and TorchSharp messages carry multi-line probing traces; the first sentence says what failed.</summary>
    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return (end > 0 ? message[..(end + 1)] : message).ReplaceLineEndings(" ").Trim();
    }
}
