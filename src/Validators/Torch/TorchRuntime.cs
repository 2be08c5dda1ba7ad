using System.Runtime.InteropServices;
using TorchSharp;

namespace ModelForge.Validators.Torch;

/// <summary>Where the reference path computes.</summary>
public enum ComputeDevice
{
    Cpu,
    Cuda,
}

/// <summary>The reference path cannot run on the requested device (no CUDA libtorch, no GPU): one line.</summary>
public sealed class TorchUnavailableException(string message) : Exception(message);

/// <summary>
/// Initialises TorchSharp once per process. CPU uses the libtorch-cpu NuGet package. CUDA has no NuGet package here,
/// so a CUDA libtorch is loaded from a folder (a Python PyTorch install's torch/lib works: TorchSharp 0.107 was seen
/// to load PyTorch 2.11's libraries) given by --libtorch or MODELFORGE_LIBTORCH, before TorchSharp initialises.
/// </summary>
public static class TorchRuntime
{
    public const string LibTorchEnvVar = "MODELFORGE_LIBTORCH";

    private static readonly object Gate = new();
    private static bool _cudaReady;

    public static bool CudaAvailable => _cudaReady;

    public static torch.Device ToTorch(ComputeDevice d) => d == ComputeDevice.Cuda ? torch.CUDA : torch.CPU;

    /// <summary>TorchSharp's load errors carry a multi-line probing trace; the first sentence says what failed.</summary>
    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return (end > 0 ? message[..(end + 1)] : message).ReplaceLineEndings(" ");
    }

    /// <summary>Makes TorchSharp usable on the device, or throws <see cref="TorchUnavailableException"/> naming what is missing.</summary>
    public static void Initialize(ComputeDevice device, string? libtorchDir = null)
    {
        lock (Gate)
        {
            if (device == ComputeDevice.Cpu)
            {
                try
                {
                    torch.InitializeDeviceType(DeviceType.CPU);
                }
                catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException)
                {
                    throw new TorchUnavailableException($"TorchSharp could not load libtorch for the CPU: {FirstSentence(e.GetBaseException().Message)}");
                }
                return;
            }
            if (_cudaReady) return;
            string? dir = libtorchDir ?? Environment.GetEnvironmentVariable(LibTorchEnvVar);
            const string hint = "set " + LibTorchEnvVar + " or --libtorch to a folder with libtorch_cuda.so, e.g. the torch/lib folder of a PyTorch install";
            if (string.IsNullOrEmpty(dir))
                throw new TorchUnavailableException($"--device cuda: no CUDA libtorch configured ({hint})");
            string cudaLib = Path.Combine(dir, "libtorch_cuda.so");
            if (!File.Exists(cudaLib))
                throw new TorchUnavailableException($"--device cuda: {cudaLib} not found ({hint})");
            try
            {
                // Order matters: the CUDA libtorch must be resident before LibTorchSharp binds its symbols.
                NativeLibrary.Load(cudaLib);
                string c10Cuda = Path.Combine(dir, "libc10_cuda.so");
                if (File.Exists(c10Cuda)) NativeLibrary.Load(c10Cuda);
                string bridge = new[] { Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"), Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so") }
                    .FirstOrDefault(File.Exists) ?? throw new TorchUnavailableException("--device cuda: libLibTorchSharp.so not found beside modelforge");
                NativeLibrary.Load(bridge);
                torch.InitializeDeviceType(DeviceType.CUDA);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or TypeInitializationException or InvalidOperationException or NotSupportedException)
            {
                throw new TorchUnavailableException($"--device cuda: loading {dir} failed: {FirstSentence(e.GetBaseException().Message)}");
            }
            if (!torch.cuda.is_available())
                throw new TorchUnavailableException($"--device cuda: libtorch from {dir} loaded but reports no CUDA device");
            _cudaReady = true;
        }
    }
}
