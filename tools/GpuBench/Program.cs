// GpuBench: times the TorchSharp reference path of the released-size DeepEncoder per (image size, batch, precision):
// warm-up runs, then N timed runs (each: input host->device, the graph eagerly, outputs device->host), median/min/p90,
// and the device memory in use (CUDA: cudaMemGetInfo total-free after each run, minus the idle baseline; it includes
// libtorch's caching allocator, so it reads like torch.cuda.max_memory_reserved, not max_memory_allocated).
// Usage: GpuBench --checkpoint CKPT --device cuda|cpu [--libtorch DIR] [--sizes 1024] [--batches 1,8]
//        [--precisions fp32,bf16,fp16] [--warmup 5] [--iters 20] [--config fixture.json] --out FILE.json
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;

var opts = new Dictionary<string, string>();
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (!args[i].StartsWith("--",
        StringComparison.Ordinal)) { Console.Error.WriteLine($"GpuBench: unexpected argument {args[i]}"); return 2; }
    opts[args[i][2..]] = args[i + 1];
}
if (args.Length % 2 != 0 || !opts.ContainsKey("checkpoint") || !opts.ContainsKey("out"))
{
    Console.Error.WriteLine("usage: GpuBench --checkpoint CKPT --out FILE.json [--device cuda|cpu] [--libtorch DIR] [--sizes 1024] " +
        "[--batches 1,8] [--precisions fp32,bf16,fp16] [--warmup 5] [--iters 20]");
    return 2;
}
string O(string k, string d) => opts.TryGetValue(k, out var v) ? v : d;
int[] Ints(string k, string d) => O(k, d).Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
string device = O("device", "cuda");
int warmup = int.Parse(O("warmup", "5"), CultureInfo.InvariantCulture), iters = int.Parse(O("iters", "20"), CultureInfo.InvariantCulture);
var precisions = O("precisions", "fp32,bf16,fp16").Split(',').Select(p => p switch
{
    "fp32" => DataType.Float32,
    "bf16" => DataType.BFloat16,
    "fp16" => DataType.Float16,
    _ => throw new ArgumentException($"--precisions: {p}"),
}).ToArray();

try
{
    TorchRuntime.Initialize(device == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu, opts.GetValueOrDefault("libtorch"));
}
catch (TorchUnavailableException e)
{
    Console.Error.WriteLine($"GpuBench: {e.Message}");
    return 2;
}
var arch = ArchitectureRegistry.Get("deepencoder");
// --config: another DeepEncoder config (e.g. the tiny fixture's) for a quick CPU smoke run; default: the released model.
using var config = opts.TryGetValue("config", out var cfgPath) ? JsonDocument.Parse(File.ReadAllText(cfgPath)) : null;
using var checkpoint = Checkpoint.Open(O("checkpoint", ""));
var weights = new CheckpointWeights(checkpoint, arch.Adapter);
var results = new List<Dictionary<string, object?>>();
long baseline = DeviceMemory.InUse(device);
foreach (int size in Ints("sizes", "1024"))
foreach (var precision in precisions)
{
    var graph = arch.Build(config?.RootElement, new BuildRequest(size));
    WeightBinder.Verify(graph, checkpoint, arch.Adapter);
    graph.PruneUnused();
    var load = Stopwatch.StartNew();
    using var evaluator = new TorchEvaluator(graph, weights,
        new TorchEvalOptions(device, precision == DataType.Float32 ? null : precision));
    double loadSeconds = load.Elapsed.TotalSeconds;
    foreach (int batch in Ints("batches", "1,8"))
    {
        var inputs = InputSets.Random(graph, 0, batch);
        long peak = 0;
        for (int w = 0; w < warmup; w++) evaluator.Run(inputs);
        var ms = new List<double>();
        for (int k = 0; k < iters; k++)
        {
            var sw = Stopwatch.StartNew();
            evaluator.Run(inputs); // returns host tensors: the device has finished
            ms.Add(sw.Elapsed.TotalMilliseconds);
            peak = Math.Max(peak, DeviceMemory.InUse(device) - baseline);
        }
        ms.Sort();
        var row = new Dictionary<string, object?>
        {
            ["image_size"] = size,
            ["batch"] = batch,
            ["precision"] = precision.ShortName(),
            ["device"] = device,
            ["warmup"] = warmup,
            ["iterations"] = iters,
            ["median_ms"] = Math.Round(ms[ms.Count / 2], 2),
            ["min_ms"] = Math.Round(ms[0], 2),
            ["p90_ms"] = Math.Round(ms[(int)(ms.Count * 0.9)], 2),
            ["device_memory_in_use_mib"] = device == "cuda" ? peak / (1 << 20) : null,
            ["weights_load_s"] = Math.Round(loadSeconds, 2),
        };
        results.Add(row);
        Console.WriteLine(JsonSerializer.Serialize(row));
    }
}
File.WriteAllText(O("out", ""), JsonSerializer.Serialize(new Dictionary<string, object?>
{
    ["what"] = "TorchSharp reference path of the released-size DeepEncoder (synthetic checkpoint), ModelForge GpuBench",
    ["timing"] = "per run: input host->device, eager graph, outputs device->host; median of the timed runs after warm-up",
    ["results"] = results,
}, new JsonSerializerOptions { WriteIndented = true }));
return 0;

/// <summary>Device memory in use (bytes): CUDA through cudaMemGetInfo of the libcudart libtorch loaded; 0 on the CPU.</summary>
internal static class DeviceMemory
{
    [DllImport("libcudart.so.13", EntryPoint = "cudaMemGetInfo")]
    private static extern int CudaMemGetInfo(out nuint free, out nuint total);

    public static long InUse(string device)
    {
        if (device != "cuda") return 0;
        try
        {
            return CudaMemGetInfo(out var free, out var total) == 0 ? (long)(total - free) : 0;
        }
        catch (DllNotFoundException)
        {
            return 0;
        }
    }
}
