// Peak RSS of the released-size Qwen2-VL-7B vision tower on ONNX Runtime CPU (issue 10 item 4).
//   QwenVisionRss synth DIR                        DIR/model.safetensors (synthetic, released layout, bf16)
//   QwenVisionRss export CKPT OUT.onnx [--legacy]  the current graph (frames on a batch axis) or the old dense-bias one
//   QwenVisionRss measure OUT.onnx PX [--frames T] [--legacy] [--threads N]
// measure runs ONE image (or a T-frame video) of PX x PX pixels (grid from Qwen2-VL's smart_resize, factor 28) in a
// fresh process and prints one JSON line: grid, patches, input bytes, session and run seconds, VmHWM (peak RSS).
// Run each measurement in its own process (RSS is per process) and under the shared heavy lock.
using System.Diagnostics;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;
using ModelForge.Tools;
using ModelForge.Validators.Onnx;

// Positional arguments: everything that is neither an option nor the value of --frames / --threads.
var pos = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || args[i - 1] is not ("--frames" or "--threads")))
    .ToList();
string? Opt(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
bool legacy = args.Contains("--legacy");
var arch = ArchitectureRegistry.Get("qwen2vl");
var cfg = Qwen2VlVisionConfig.Default;
switch (pos.FirstOrDefault())
{
    case "synth" when pos.Count == 2:
    {
        string path = SyntheticQwen2VlCheckpoint.Write(pos[1]);
        Console.WriteLine($"{path}: {SyntheticQwen2VlCheckpoint.ParameterCount(SyntheticQwen2VlCheckpoint.TensorShapes())} parameters");
        return 0;
    }
    case "export" when pos.Count == 3:
    {
        using var ckpt = Checkpoint.Open(pos[1]);
        var graph = legacy ? LegacyDenseBiasGraph.Build(cfg) : arch.Build(null, new BuildRequest());
        WeightBinder.Verify(graph, ckpt, arch.Adapter);
        graph.PruneUnused();
        var sw = Stopwatch.StartNew();
        OnnxExporter.Export(graph, new CheckpointWeights(ckpt, arch.Adapter), pos[2]);
        Console.WriteLine($"{pos[2]}: exported in {sw.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
    case "measure" when pos.Count == 3:
    {
        int px = int.Parse(pos[2], System.Globalization.CultureInfo.InvariantCulture);
        int frames = int.Parse(Opt("--frames") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        int threads = int.Parse(Opt("--threads") ?? "2", System.Globalization.CultureInfo.InvariantCulture);
        int side = SmartResize(px) / 14;                               // patches per side
        var grid = new GridThw(frames, side, side);
        var rng = new Random(7);
        var pixels = new float[(long)grid.Patches * cfg.PatchValues];
        for (long i = 0; i < pixels.LongLength; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        var given = new Dictionary<string, HostTensor>
        {
            ["pixel_values"] = new([grid.Patches, cfg.PatchValues], pixels),
            ["grid_thw"] = new([1, 3], [grid.T, grid.H, grid.W]),
        };
        var calls = legacy ? [LegacyDenseBiasGraph.Inputs(grid, cfg, pixels)] : arch.PlanCalls(null, given);
        long inputBytes = calls.Sum(c => c.Values.Sum(t => t.ElementCount * 4));
        long before = Status("VmHWM");
        var sw = Stopwatch.StartNew();
        using var runner = new OrtRunner(pos[1], new OrtRunnerOptions(IntraOpThreads: threads));
        double session = sw.Elapsed.TotalSeconds;
        long afterSession = Status("VmHWM");
        sw.Restart();
        long tokens = 0;
        foreach (var call in calls) tokens += runner.Run(call, ["image_features"])["image_features"].ElementCount / cfg.HiddenSize;
        double run = sw.Elapsed.TotalSeconds;
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            graph = legacy ? "dense-bias (old)" : "frames-on-batch (new)", px, resized = side * 14, grid = $"{grid.T}x{grid.H}x{grid.W}",
            patches = grid.Patches, tokens, calls = calls.Count, input_mib = inputBytes / 1048576.0, threads,
            session_s = session, run_s = run, peak_rss_before_session_mib = before / 1024.0,
            peak_rss_after_session_mib = afterSession / 1024.0, peak_rss_mib = Status("VmHWM") / 1024.0,
        }));
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: QwenVisionRss synth DIR | export CKPT OUT.onnx [--legacy] | measure OUT.onnx PX [--frames T] " +
            "[--legacy] [--threads N]");
        return 2;
}

// Qwen2-VL smart_resize for a square PX x PX image: round to a multiple of 28 (half to even, as Python's round), keep
// the pixel count within [3136, 12845056] (the processor defaults).
static int SmartResize(int px)
{
    const int factor = 28;
    int side = (int)Math.Round(px / (double)factor, MidpointRounding.ToEven) * factor;
    if ((long)side * side > 12845056) side = (int)Math.Floor(px / Math.Sqrt((double)px * px / 12845056) / factor) * factor;
    if ((long)side * side < 3136) side = (int)Math.Ceiling(px * Math.Sqrt(3136.0 / ((double)px * px)) / factor) * factor;
    return Math.Max(side, factor);
}

// A line of /proc/self/status in KiB (VmHWM: peak resident set size).
static long Status(string key)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith(key + ":", StringComparison.Ordinal))
            return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    return -1;
}
