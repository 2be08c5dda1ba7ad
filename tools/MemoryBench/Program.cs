// Peak RSS of the real `modelforge` CLI at released size (issue 16): validate (both paths) on 1 and on 3 cases, and run,
// for the released DeepEncoder and the released Qwen2-VL-7B vision tower, each command a child process.
//   MemoryBench [--cli DLL] [--deepencoder CKPT] [--qwen CKPT] [--work DIR] [--only deepencoder|qwen] [--repeat N]
// DLL: the built CLI (default src/Cli/bin/Release/net10.0/modelforge.dll). CKPT: synthetic checkpoints of the released
// layouts (tools/SynthDeepEncoder, tools/QwenVisionRss synth). Peaks are each child's VmHWM (/proc/PID/status), sampled
// every 20 ms until it exits. Heavy (8-15 GB): run it under `flock /tmp/modelforge-heavy.lock`, nothing else at once.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Analysis;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Tools.MemoryBench;

string? Opt(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
string repo = Repo.Root();
string cli = Opt("--cli") ?? Path.Combine(repo, "src/Cli/bin/Release/net10.0/modelforge.dll");
string deCkpt = Opt("--deepencoder") ?? "/work/coord/full/model.safetensors";
string qwenCkpt = Opt("--qwen") ?? "/work/coord/qwen7b/model.safetensors";
string work = Opt("--work") ?? Path.Combine(Path.GetTempPath(), $"memorybench-{Environment.ProcessId}");
string? only = Opt("--only");
int repeat = int.Parse(Opt("--repeat") ?? "2", CultureInfo.InvariantCulture);
foreach (var (what, path) in new[] { ("--cli", cli), ("--deepencoder", deCkpt), ("--qwen", qwenCkpt) })
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"MemoryBench: {what} {path}: no such file");
        return 2;
    }
Directory.CreateDirectory(work);
var inv = CultureInfo.InvariantCulture;
Console.WriteLine($"MemoryBench: peak RSS (VmHWM) of `modelforge` child processes; {Machine.Describe()}");
Console.WriteLine($"cli {cli}; work {work}");
try
{
    if (only is null or "deepencoder") DeepEncoder();
    if (only is null or "qwen") Qwen();
}
finally
{
    Directory.Delete(work, true);
}
return 0;

void DeepEncoder()
{
    var arch = ArchitectureRegistry.Get("deepencoder");
    string source = Path.Combine(repo, "fixtures/golden/deepencoder-full-640");
    string one = Fixtures.Repeat(source, deCkpt, Path.Combine(work, "de-1"), 1);
    string three = Fixtures.Repeat(source, deCkpt, Path.Combine(work, "de-3"), 3);
    using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(source, "fixture.json")));
    var caseJson = doc.RootElement.GetProperty("cases")[0];
    var graph = arch.Build(doc.RootElement, arch.RequestForCase(caseJson));
    long weights = graph.ParameterCount * 4;
    long model = ActivationModel.Simulate(graph, graph.Symbols.ToDictionary(s => s, _ => 1L), AttentionMemory.Materialized).PeakBytes;
    Console.WriteLine();
    Console.WriteLine($"DeepEncoder (released layout, {deCkpt}): {graph.ParameterCount:N0} parameters, fp32 weights {Mib(weights)}; "
        + "fixture deepencoder-full-640 (golden of the original code), case0 = 1x640 px, repeated as case1, case2");
    string onnx640 = Path.Combine(work, "de-640");
    Child.Run(cli, ["export", "--arch", "deepencoder", "--checkpoint", deCkpt, "--image-size", "640", "--out", onnx640], work,
        "export 640");
    var act = Child.Run(cli, ["bench", onnx640, "--no-arena", "--iterations", "3", "--warmup", "1", "--json"], work, "bench 640");
    long measured = Child.JsonLong(act.Stdout, "run_increase");
    var (v1, v3) = Alternate(["validate", "--fixture", one], ["validate", "--fixture", three]);
    string onnxBase = Path.Combine(work, "de-base");
    Child.Run(cli, ["export", "--arch", "deepencoder", "--checkpoint", deCkpt, "--mode", "base", "--out", onnxBase], work, "export base");
    string image = Path.Combine(repo, "fixtures/golden/preprocess/dsocr_tall_700x1000_base_global.png");
    var run = Child.Run(cli, ["run", "--onnx", onnxBase, "--image", image, "--out", Path.Combine(work, "tokens.safetensors")], work,
        "run (base, 1024 px page)");
    Report(weights, measured, model, v1, v3, run);
    // The issue's other figure: validate at 1024 px (no golden at that size: random inputs, exported vs reference).
    var act1024 = Child.Run(cli, ["bench", onnxBase, "--no-arena", "--iterations", "3", "--warmup", "1", "--json"], work, "bench 1024");
    long measured1024 = Child.JsonLong(act1024.Stdout, "run_increase");
    var v1024 = Child.Run(cli, ["validate", "--arch", "deepencoder", "--checkpoint", deCkpt, "--image-size", "1024", "--inputs", "random"],
        work, "validate 1024 px");
    long target1024 = (long)(2.5 * weights) + measured1024;
    Console.WriteLine($"  {"validate --inputs random, 1024 px",-34} {Mib(v1024.PeakBytes),12} {v1024.Seconds,7:F1}s {v1024.ExitCode,5}  "
        + $"{v1024.PeakBytes / (double)weights:F2}x fp32 weights; activation at 1024 px {Mib(measured1024)} measured; "
        + $"target {Mib(target1024)}: {(v1024.PeakBytes <= target1024 ? "met" : "NOT met")}");
    Directory.Delete(onnx640, true);
    Directory.Delete(onnxBase, true);
}

void Qwen()
{
    var arch = ArchitectureRegistry.Get("qwen2vl");
    var graph = arch.Build(null, new BuildRequest());
    long weights = graph.ParameterCount * 4;
    // case0: one 448-patch image (the largest case); case1: two packed images; case2: a 2-frame video. At most 496 patches.
    var cases = new (string Name, long[][] Grids)[]
    {
        ("case0", [[1, 16, 28]]),
        ("case1", [[1, 12, 16], [1, 8, 12]]),
        ("case2", [[2, 12, 16]]),
    };
    string one = Path.Combine(work, "qwen-1.safetensors"), three = Path.Combine(work, "qwen-3.safetensors");
    QwenInputs.Write(one, cases[..1], plain: true);   // bare names: one case (what any version of validate --inputs reads)
    QwenInputs.Write(three, cases);
    long model = 0;
    foreach (var (_, grids) in cases)
        foreach (var call in arch.PlanCalls(null, QwenInputs.Case(grids)))
            model = Math.Max(model, ActivationModel.Simulate(graph, Bind(graph, call), AttentionMemory.Materialized).PeakBytes);
    Console.WriteLine();
    Console.WriteLine($"Qwen2-VL-7B vision tower (released layout, synthetic bf16, {qwenCkpt}): {graph.ParameterCount:N0} parameters, "
        + $"fp32 weights {Mib(weights)}; cases (grid_thw): "
        + string.Join("; ", cases.Select(c => c.Name + " " + string.Join(" + ", c.Grids.Select(g => string.Join("x", g))))));
    string onnx = Path.Combine(work, "qwen-onnx");
    Child.Run(cli, ["export", "--arch", "qwen2vl", "--checkpoint", qwenCkpt, "--out", onnx], work, "export");
    string largest = Path.Combine(work, "qwen-largest.safetensors");
    QwenInputs.WriteCall(largest, arch.PlanCalls(null, QwenInputs.Case(cases[0].Grids))[0]);
    var act = Child.Run(cli, ["bench", onnx, "--inputs", largest, "--no-arena", "--iterations", "3", "--warmup", "1", "--json"], work,
        "bench case0");
    long measured = Child.JsonLong(act.Stdout, "run_increase");
    string[] common = ["validate", "--arch", "qwen2vl", "--checkpoint", qwenCkpt, "--inputs"];
    var (v1, v3) = Alternate([.. common, one], [.. common, three]);
    var run = Child.Run(cli, ["run", "--onnx", onnx,
        "--image", Path.Combine(repo, "fixtures/golden/preprocess/dsocr_tall_700x1000_base_global.png"),
        "--out", Path.Combine(work, "qwen-tokens.safetensors")], work, "run (one image)");
    Report(weights, measured, model, v1, v3, run);
    Directory.Delete(onnx, true);
}

// validate on 1 case and on 3 cases, alternately, `repeat` times each (A B A B: the shared machine's noise shows as the
// spread); the larger peak of each is what the ratios use.
(Child.Result One, Child.Result Three) Alternate(string[] one, string[] three)
{
    Child.Result? a = null, b = null;
    var spread = new List<string>();
    for (int k = 0; k < repeat; k++)
    {
        var x = Child.Run(cli, one, work, "validate 1 case");
        var y = Child.Run(cli, three, work, "validate 3 cases");
        spread.Add($"{Mib(x.PeakBytes)} / {Mib(y.PeakBytes)}");
        a = a is null || x.PeakBytes > a.PeakBytes ? x : a;
        b = b is null || y.PeakBytes > b.PeakBytes ? y : b;
    }
    Console.WriteLine($"  validate peaks, 1 case / 3 cases, run by run: {string.Join("; ", spread)} (the larger of each below)");
    return (a!, b!);
}

void Report(long weights, long measuredAct, long modelAct, Child.Result v1, Child.Result v3, Child.Result run)
{
    long act = measuredAct > 0 ? measuredAct : modelAct;
    long target = (long)(2.5 * weights) + act;
    Console.WriteLine($"  activation peak of the largest case: {(measuredAct > 0 ? Mib(measuredAct) : "not measured")} measured "
        + $"(bench --no-arena: run peak over the RSS before the runs), {Mib(modelAct)} by ActivationModel (scores materialized)");
    Console.WriteLine($"  {"command",-34} {"peak RSS",12} {"wall",8} {"exit",5}  ratio");
    Console.WriteLine($"  {"validate, 1 case, both paths",-34} {Mib(v1.PeakBytes),12} {v1.Seconds,7:F1}s {v1.ExitCode,5}  "
        + $"{v1.PeakBytes / (double)weights:F2}x fp32 weights; target 2.5x + activation = {Mib(target)}: "
        + (v1.PeakBytes <= target ? "met" : "NOT met"));
    Console.WriteLine($"  {"validate, 3 cases, both paths",-34} {Mib(v3.PeakBytes),12} {v3.Seconds,7:F1}s {v3.ExitCode,5}  "
        + (v3.ExitCode is 0 or 1 && v1.ExitCode is 0 or 1
            ? $"3 cases / 1 case = {v3.PeakBytes / (double)v1.PeakBytes:F3} "
                + $"(target <= 1.10: {(v3.PeakBytes <= 1.10 * v1.PeakBytes ? "met" : "NOT met")})"
            : "did not run: " + v3.LastError));
    Console.WriteLine($"  {run.Label,-34} {Mib(run.PeakBytes),12} {run.Seconds,7:F1}s {run.ExitCode,5}  "
        + (run.ExitCode == 0 ? $"{run.PeakBytes / (double)weights:F2}x fp32 weights" : "failed: " + run.LastError));
}

static Dictionary<string, long> Bind(Graph graph, IReadOnlyDictionary<string, HostTensor> call)
{
    var b = new Dictionary<string, long>(StringComparer.Ordinal);
    foreach (var input in graph.Inputs)
        for (int k = 0; k < input.Shape.Rank; k++)
            if (input.Shape[k] is { IsKnown: false, Symbol: { } s, Factor: var f } && call.TryGetValue(input.Name, out var t))
                b[s] = t.Shape[k] / f;
    return b;
}

static string Mib(long bytes) => (bytes / 1048576.0).ToString("N0", CultureInfo.InvariantCulture) + " MiB";
