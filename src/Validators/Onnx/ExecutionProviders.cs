using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace ModelForge.Validators.Onnx;

/// <summary>A requested execution provider cannot run here: one line naming the provider and the missing library files.</summary>
public sealed class ExecutionProviderUnavailableException(string message) : ArgumentException(message);

/// <summary>TensorRT execution provider settings (ONNX Runtime's trt_* provider options).</summary>
public sealed record TensorRtEpOptions
{
    /// <summary>trt_fp16_enable: let TensorRT pick fp16 kernels.</summary>
    public bool Fp16 { get; init; }

    /// <summary>trt_engine_cache_path (and trt_engine_cache_enable): where built engines are kept between sessions.</summary>
    public string? EngineCacheDir { get; init; }

    /// <summary>trt_timing_cache_path (and trt_timing_cache_enable).</summary>
    public string? TimingCacheDir { get; init; }

    /// <summary>trt_profile_min/opt/max_shapes in trtexec syntax ("pixel_values:1x3x1024x1024,..."), e.g. from a bundle manifest.</summary>
    public string? ProfileMin { get; init; }

    public string? ProfileOpt { get; init; }

    public string? ProfileMax { get; init; }
}

/// <summary>
/// Execution providers of ONNX Runtime: the provider names, the native libraries each needs, a probe that turns "not in
/// this build" and "libraries missing" into one line before a session is made, and appending a provider to session options.
/// The CPU package (default build) has the CPU provider only; -p:OrtFlavor=gpu links Microsoft.ML.OnnxRuntime.Gpu.Linux,
/// whose CUDA provider needs CUDA 13 + cuDNN 9 and whose TensorRT provider needs TensorRT 10 (docs: ENVIRONMENT.md).
/// </summary>
public static class ExecutionProviders
{
    /// <summary>Parses --ep (cpu | cuda | tensorrt).</summary>
    public static OrtProvider Parse(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => OrtProvider.Cpu,
        "cuda" => OrtProvider.Cuda,
        "tensorrt" or "trt" => OrtProvider.TensorRt,
        _ => throw new ArgumentException($"--ep {name}: expected cpu, cuda or tensorrt"),
    };

    /// <summary>The --ep name of a provider.</summary>
    public static string CliName(OrtProvider p) => p switch { OrtProvider.Cuda => "cuda", OrtProvider.TensorRt => "tensorrt", _ => "cpu" };

    /// <summary>ONNX Runtime's name of the provider (as GetAvailableProviders lists it).</summary>
    public static string OrtName(OrtProvider p) => p switch
    {
        OrtProvider.Cuda => "CUDAExecutionProvider",
        OrtProvider.TensorRt => "TensorrtExecutionProvider",
        _ => "CPUExecutionProvider",
    };

    /// <summary>The provider's own library (shipped beside libonnxruntime.so by the GPU package), or null for the CPU provider.</summary>
    public static string? ProviderLibrary(OrtProvider p) => p switch
    {
        OrtProvider.Cuda => "libonnxruntime_providers_cuda.so",
        OrtProvider.TensorRt => "libonnxruntime_providers_tensorrt.so",
        _ => null,
    };

    /// <summary>
    /// System libraries the provider loads (NEEDED entries of the 1.31 provider libraries, plus cuDNN which the CUDA
    /// provider opens at run time, and the driver's libcuda).
    /// </summary>
    public static IReadOnlyList<string> SystemLibraries(OrtProvider p) => p switch
    {
        OrtProvider.Cuda => ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudnn.so.9"],
        OrtProvider.TensorRt =>
            ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcudnn.so.9", "libnvinfer.so.10", "libnvonnxparser.so.10"],
        _ => [],
    };

    /// <summary>Providers compiled into the loaded libonnxruntime (CPU package: CPUExecutionProvider only).</summary>
    public static IReadOnlyList<string> Available() => OrtEnv.Instance().GetAvailableProviders();

    /// <summary>
    /// Checks that <paramref name="p"/> can be used in this process, else throws
    /// <see cref="ExecutionProviderUnavailableException"/> with one line: the provider, and the library files missing.
    /// </summary>
    public static void Require(OrtProvider p)
    {
        if (p == OrtProvider.Cpu) return;
        string ep = $"--ep {CliName(p)}";
        string lib = ProviderLibrary(p)!;
        string? providerPath = FindBesideOrt(lib);
        if (!Available().Contains(OrtName(p)) || providerPath is null)
            throw new ExecutionProviderUnavailableException(
                $"{ep}: this build's ONNX Runtime has no {OrtName(p)} (missing {lib}; the CPU flavour has only "
                + $"CPUExecutionProvider): build ModelForge with -p:OrtFlavor=gpu (Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0)");
        var missing = SystemLibraries(p).Where(l => !CanLoad(l)).ToList();
        if (missing.Count == 0 && !NativeLibrary.TryLoad(providerPath, out _))
            missing.Add($"{lib} (it does not load; its dependencies: {string.Join(", ", SystemLibraries(p))})");
        if (missing.Count > 0)
            throw new ExecutionProviderUnavailableException($"{ep}: {OrtName(p)} cannot load: missing {string.Join(", ", missing)} "
                + $"({Needs(p)}; put their folders on LD_LIBRARY_PATH)");
    }

    private static string Needs(OrtProvider p) => p == OrtProvider.TensorRt
        ? "TensorRT 10, CUDA 13 and cuDNN 9 libraries"
        : "CUDA 13 and cuDNN 9 libraries, and an NVIDIA driver";

    private static bool CanLoad(string soname)
    {
        if (!NativeLibrary.TryLoad(soname, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>Where a library beside libonnxruntime.so lives in this app (the app folder or runtimes/linux-x64/native).</summary>
    private static string? FindBesideOrt(string file) =>
        new[] { AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native") }
            .Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);

    /// <summary>
    /// Appends the provider to <paramref name="options"/> (after <see cref="Require"/>); a loader failure ONNX Runtime
    /// reports is turned into the same one-line form, naming the library files its message names.
    /// </summary>
    public static void Append(SessionOptions options, OrtProvider p, int deviceId, TensorRtEpOptions? trt)
    {
        if (p == OrtProvider.Cpu) return;
        Require(p);
        try
        {
            if (p == OrtProvider.Cuda)
            {
                using var cuda = new OrtCUDAProviderOptions();
                cuda.UpdateOptions(new Dictionary<string, string>
                {
                    ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture)
                });
                options.AppendExecutionProvider_CUDA(cuda);
                return;
            }
            using var t = new OrtTensorRTProviderOptions();
            t.UpdateOptions(TensorRtOptions(deviceId, trt ?? new TensorRtEpOptions()));
            options.AppendExecutionProvider_Tensorrt(t);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            var libs = System.Text.RegularExpressions.Regex.Matches(e.Message, @"lib[A-Za-z0-9_+\-]+\.so(\.[0-9]+)*")
                .Select(m => m.Value).Distinct().ToArray();
            throw new ExecutionProviderUnavailableException($"--ep {CliName(p)}: {OrtName(p)} cannot load"
                + (libs.Length > 0 ? $": missing {string.Join(", ", libs)}" : "") + $" ({e.Message.ReplaceLineEndings(" ").Trim()})");
        }
    }

    /// <summary>The trt_* provider options for <paramref name="o"/> (cache folders are created).</summary>
    public static Dictionary<string, string> TensorRtOptions(int deviceId, TensorRtEpOptions o)
    {
        var d = new Dictionary<string, string> { ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (o.Fp16) d["trt_fp16_enable"] = "1";
        if (o.EngineCacheDir is { } e)
        {
            Directory.CreateDirectory(e);
            d["trt_engine_cache_enable"] = "1";
            d["trt_engine_cache_path"] = e;
        }
        if (o.TimingCacheDir is { } tc)
        {
            Directory.CreateDirectory(tc);
            d["trt_timing_cache_enable"] = "1";
            d["trt_timing_cache_path"] = tc;
        }
        if (o.ProfileMin is { } min) d["trt_profile_min_shapes"] = min;
        if (o.ProfileOpt is { } opt) d["trt_profile_opt_shapes"] = opt;
        if (o.ProfileMax is { } max) d["trt_profile_max_shapes"] = max;
        return d;
    }
}
