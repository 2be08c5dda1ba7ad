using System.CommandLine;
using ModelForge.Validators.Onnx;

namespace ModelForge.Cli.Commands;

/// <summary>
/// ONNX Runtime execution-provider options shared by validate, run (and bench): --ep cpu|cuda|tensorrt, --device-id and the
/// TensorRT provider's settings. A provider this build or machine cannot load is refused with one line, exit 2.
/// </summary>
public sealed class ProviderOptions
{
    public Option<string> Ep { get; } = new("--ep")
    {
        Description = "ONNX Runtime execution provider: cpu | cuda | tensorrt (cuda/tensorrt need the -p:OrtFlavor=gpu build)",
        DefaultValueFactory = _ => "cpu",
    };

    public Option<int> DeviceId { get; } = new("--device-id")
    {
        Description = "GPU ordinal for --ep cuda|tensorrt",
        DefaultValueFactory = _ => 0,
    };

    public Option<bool> TrtFp16 { get; } = new("--trt-fp16") { Description = "--ep tensorrt: allow fp16 kernels (trt_fp16_enable)" };

    public Option<string?> TrtEngineCache { get; } = new("--trt-engine-cache") { Description = "--ep tensorrt: folder for cached engines" };

    public Option<string?> TrtTimingCache { get; } = new("--trt-timing-cache")
    {
        Description = "--ep tensorrt: folder for the timing cache",
    };

    public void AddTo(Command cmd)
    {
        Ep.AcceptOnlyFromAmong("cpu", "cuda", "tensorrt");
        foreach (var o in new Option[] { Ep, DeviceId, TrtFp16, TrtEngineCache, TrtTimingCache }) cmd.Add(o);
    }

    /// <summary>
    /// The runner options the command line asks for, after checking the provider can load here (so a missing CUDA library
    /// is one line before any work starts). <paramref name="profile"/>: TensorRT profile shapes (e.g. from a bundle).
    /// </summary>
    public OrtRunnerOptions Resolve(ParseResult parse, (string Min, string Opt, string Max)? profile = null)
    {
        var provider = ExecutionProviders.Parse(parse.GetValue(Ep)!);
        int device = parse.GetValue(DeviceId);
        if (device < 0) throw new UsageException($"--device-id {device}: must be >= 0");
        bool trtOption = parse.GetValue(TrtFp16) || parse.GetValue(TrtEngineCache) is not null
            || parse.GetValue(TrtTimingCache) is not null;
        if (trtOption && provider != OrtProvider.TensorRt)
            throw new UsageException("--trt-fp16/--trt-engine-cache/--trt-timing-cache apply to --ep tensorrt");
        ExecutionProviders.Require(provider);
        return new OrtRunnerOptions(provider)
        {
            DeviceId = device,
            TensorRt = provider != OrtProvider.TensorRt ? null : new TensorRtEpOptions
            {
                Fp16 = parse.GetValue(TrtFp16),
                EngineCacheDir = parse.GetValue(TrtEngineCache) is { } e ? Path.GetFullPath(e) : null,
                TimingCacheDir = parse.GetValue(TrtTimingCache) is { } t ? Path.GetFullPath(t) : null,
                ProfileMin = profile?.Min,
                ProfileOpt = profile?.Opt,
                ProfileMax = profile?.Max,
            },
        };
    }
}
