using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;

// PassBench: the released-size DeepEncoder through ONNX Runtime CPU with the pass pipeline off (A) and on (B), in one run.
//   PassBench CHECKPOINT GOLDEN_DIR WORK_DIR [--size 1024] [--threads 2] [--rounds 3]
// Each measurement is a fresh child process (session creation, two inferences, peak RSS from /proc/self/status VmHWM),
// run interleaved A B A B ...; the ratios compare the best (minimum) of each side, as the shared machines vary ~2x.
// Also: export time and peak RSS of each export (interleaved with a plain flushed copy of the same number of bytes, once
// per round; ratios of the minimums), and parity of every graph to the 640 px golden (max abs). B and C take the `onnx`
// target's pipeline at their opset (below 23 it includes chunk-attention).
// Run heavy: flock /tmp/modelforge-heavy.lock dotnet PassBench.dll ...
var inv = CultureInfo.InvariantCulture;
(string Label, string Passes, string Opset)[] Variants = [("A", "none", "17"), ("B", "default", "17"), ("C", "default", "23")];
if (args.Length > 0 && args[0] == "--child-export") return ChildExport(args[1], args[2], args[3], int.Parse(args[4], inv),
    int.Parse(args[5], inv));
if (args.Length > 0 && args[0] == "--child-run") return ChildRun(args[1], int.Parse(args[2], inv), int.Parse(args[3], inv));
if (args.Length > 0 && args[0] == "--child-copy") return ChildCopy(args[1], args[2]);
if (args.Length > 0 && args[0] == "--child-gemm") return ChildGemm(int.Parse(args[1], inv));
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: PassBench CHECKPOINT GOLDEN_DIR WORK_DIR [--size 1024] [--threads 2] [--rounds 3]");
    return 2;
}
string checkpoint = Path.GetFullPath(args[0]), golden = Path.GetFullPath(args[1]), work = Path.GetFullPath(args[2]);
int size = Opt("--size", 1024), threads = Opt("--threads", 2), rounds = Opt("--rounds", 3);
int Opt(string name, int dflt) => Array.IndexOf(args, name) is int i and >= 0 ? int.Parse(args[i + 1], inv) : dflt;
Directory.CreateDirectory(work);

Console.WriteLine($"PassBench: DeepEncoder {size} px, ORT CPU {threads} threads, fp32, {rounds} interleaved rounds; " +
    $"{Environment.ProcessorCount} cores");
// Exports interleaved with a plain flushed copy of the same number of bytes: A B C copy, once per round.
var exportRuns = new Dictionary<string, List<JsonElement>> { ["A"] = [], ["B"] = [], ["C"] = [] };
var copies = new List<JsonElement>();
for (int r = 0; r < rounds; r++)
{
    foreach (var (label, passes, opset) in Variants)
    {
        string dir = Path.Combine(work, label);
        if (Directory.Exists(dir)) Directory.Delete(dir, true);   // not timed: a fresh destination each round
        exportRuns[label].Add(Child("--child-export", checkpoint, dir, passes, size.ToString(inv), opset));
    }
    copies.Add(Child("--child-copy", Path.Combine(work, "A", "model.onnx.data"), Path.Combine(work, "copy.bin")));
    File.Delete(Path.Combine(work, "copy.bin"));
    string times = string.Join(", ", Variants.Select(v => $"{v.Label} {exportRuns[v.Label][r].GetProperty("seconds").GetDouble():F2} s"));
    Console.WriteLine($"  export round {r + 1}: {times}, " +
        $"copy {copies[r].GetProperty("seconds").GetDouble():F2} s");
}
var exports = exportRuns.ToDictionary(kv => kv.Key, kv => kv.Value.MinBy(m => m.GetProperty("seconds").GetDouble()));
var copy = copies.MinBy(m => m.GetProperty("seconds").GetDouble());

var runs = new Dictionary<string, List<JsonElement>> { ["A"] = [], ["B"] = [], ["C"] = [] };
var gemms = new List<JsonElement>();   // the machine's MatMul rate, measured once per round between the runs
for (int r = 0; r < rounds; r++)
    foreach (var label in new[] { "A", "B", "C" })
    {
        var m = Child("--child-run", Path.Combine(work, label, "model.onnx"), threads.ToString(inv), size.ToString(inv));
        runs[label].Add(m);
        if (label == "C") gemms.Add(Child("--child-gemm", threads.ToString(inv)));
        Console.WriteLine($"  round {r + 1} {label}: create {m.GetProperty("create_s").GetDouble():F2} s, runs " +
            $"{string.Join(" / ", m.GetProperty("run_s").EnumerateArray().Select(x => x.GetDouble().ToString("F2", inv)))} s, peak RSS " +
                $"{m.GetProperty("peak_rss_mb").GetDouble():F0} MB");
    }

double Best(JsonElement m) => m.GetProperty("run_s").EnumerateArray().Min(x => x.GetDouble());
Console.WriteLine();
Console.WriteLine("| | A: passes off, opset 17 | B: onnx target's passes, opset 17 (chunk-attention) | B / A | " +
    "C: passes on, opset 23 (Attention-23) | C / A |");
Console.WriteLine("|---|---|---|---|---|---|");
void Row(string what, Func<string, double> f, string fmt) =>
    Console.WriteLine($"| {what} | {f("A").ToString(fmt, inv)} | {f("B").ToString(fmt, inv)} | {(f("B") / f("A")).ToString("F3", inv)} | " +
        $"{f("C").ToString(fmt, inv)} | {(f("C") / f("A")).ToString("F3", inv)} |");
Row("latency min (s)", l => runs[l].Min(Best), "F2");
Row("latency median (s)", l => Median(runs[l].Select(Best)), "F2");
Row("session creation min (s)", l => runs[l].Min(m => m.GetProperty("create_s").GetDouble()), "F2");
Row("peak RSS min (MB)", l => runs[l].Min(m => m.GetProperty("peak_rss_mb").GetDouble()), "F0");
Row("ONNX nodes", l => exports[l].GetProperty("nodes").GetDouble(), "F0");
Row("export time min (s)", l => exports[l].GetProperty("seconds").GetDouble(), "F2");
Row("export time median (s)", l => Median(exportRuns[l].Select(m => m.GetProperty("seconds").GetDouble())), "F2");
Row("export peak RSS (MB)", l => exportRuns[l].Max(m => m.GetProperty("peak_rss_mb").GetDouble()), "F0");
double copyMin = copy.GetProperty("seconds").GetDouble();
Console.WriteLine($"plain copy of {copy.GetProperty("bytes").GetInt64():N0} bytes (flushed), min of {rounds}: {copyMin:F2} s " +
    $"(median {Median(copies.Select(m => m.GetProperty("seconds").GetDouble())):F2} s); export min / copy min: " +
    string.Join(", ", Variants.Select(v => $"{v.Label} {exports[v.Label].GetProperty("seconds").GetDouble() / copyMin:F2}")));

Roofline(runs["A"].Min(Best), runs["B"].Min(Best), gemms.Max(m => m.GetProperty("gflops").GetDouble()));

// Parity to the 640 px golden (the original model's outputs) for both pipelines.
using var goldenFile = SafetensorsFile.Open(Path.Combine(golden, "golden.safetensors"));
foreach (var (label, passes, opset) in Variants)
{
    string dir = Path.Combine(work, label + "640");
    Child("--child-export", checkpoint, dir, passes, "640", opset);
    using var ort = new OrtRunner(Path.Combine(dir, "model.onnx"), new OrtRunnerOptions(IntraOpThreads: threads));
    var input = goldenFile.Tensors.Single(t => t.Name.StartsWith("case0.input.", StringComparison.Ordinal));
    var got = ort.Run(new Dictionary<string, HostTensor> { [input.Name["case0.input.".Length..]] = new(input.Shape,
        goldenFile.ReadAsFloat32(input.Name)) });
    foreach (var o in goldenFile.Tensors.Where(t => t.Name.StartsWith("case0.output.", StringComparison.Ordinal)))
    {
        var want = goldenFile.ReadAsFloat32(o.Name);
        string name = o.Name["case0.output.".Length..];
        if (!got.TryGetValue(name, out var g)) continue;
        double maxAbs = want.Select((w, i) => Math.Abs(w - g.Data[i])).Max();
        Console.WriteLine($"parity 640 px vs golden, {label} (passes {passes}, opset {opset}): {name} max abs {maxAbs:G3}");
    }
    Directory.Delete(dir, true);
}
return 0;

static double Median(IEnumerable<double> xs)
{
    var s = xs.Order().ToArray();
    return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
}

static JsonElement Child(params string[] a)
{
    var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
    string self = typeof(Program).Assembly.Location;
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(self);
    foreach (var x in a) psi.ArgumentList.Add(x);
    using var p = Process.Start(psi)!;
    string output = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"child {string.Join(" ", a)} failed ({p.ExitCode}): {output}");
    return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement.Clone();
}

static double PeakRssMb() => File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
    .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).First();

static int ChildExport(string checkpoint, string outDir, string passes, int size, int opset)
{
    var arch = ArchitectureRegistry.Get("deepencoder");
    var sw = Stopwatch.StartNew();
    var s = ExportPipeline.Run(new ExportRequest(arch, checkpoint, null, [new ArtifactPart("model", new BuildRequest(size))], outDir,
        new OnnxExportOptions(opset), Force: true, Passes: passes == "none" ? [] : null));
    Console.WriteLine(JsonSerializer.Serialize(new { seconds = sw.Elapsed.TotalSeconds, peak_rss_mb = PeakRssMb(),
        nodes = OnnxModelReader.Read(s.Parts[0].ModelPath).OpCounts.Values.Sum(), bytes = s.TotalBytes }));
    return 0;
}

// What the arithmetic alone costs here: the graph's MatMul/Conv/attention FLOPs (GraphCost, the IR before passes) at the
// best ORT MatMul rate measured in this run. Time above that floor is what passes can win without changing the arithmetic.
void Roofline(double a, double b, double gflops)
{
    var graph = ArchitectureRegistry.Get("deepencoder").Build(null, new BuildRequest(size));
    var byKind = ModelForge.Graphs.Analysis.GraphCost.Analyze(graph, new Dictionary<string, long> { ["B"] = 1 }).ByKind;
    double gemm = new[] { "MatMul", "Conv2d", "ScaledDotProductAttention" }.Sum(k => byKind.GetValueOrDefault(k)) / 1e9;
    double floor = gemm / gflops;
    Console.WriteLine($"roofline: MatMul/Conv/attention {gemm:F0} GFLOP (of {byKind.Values.Sum() / 1e9:F0}); best ORT MatMul rate " +
        $"here {gflops:F1} GFLOP/s ({threads} threads, SAM shapes) -> {floor:F2} s = {floor / a:F3} of A's min, {floor / b:F3} of B's; " +
        $"B / A <= 0.75 needs B <= {0.75 * a:F2} s, i.e. at most {0.75 * a - floor:F2} s beside the arithmetic (A has {a - floor:F2} s, " +
        $"B {b - floor:F2} s)");
}

// ORT CPU MatMul throughput on the linear shapes of a SAM block at 1024 px (x [1, 4096, K] @ W [K, N], W constant and
// pre-packed as in the model): best of 8 runs per shape, the fastest shape's GFLOP/s.
static int ChildGemm(int threads)
{
    double best = 0;
    foreach (var (k, n) in new[] { (768L, 3072L), (3072L, 768L), (768L, 2304L) })
    {
        var b = new ModelForge.Graphs.Builder.GraphBuilder("gemm");
        b.Output("y", b.MatMul(b.Input("x", 1, 4096, k), b.Weight("w", k, n)));
        string dir = Directory.CreateTempSubdirectory("passbench-gemm").FullName;
        try
        {
            var weights = ModelForge.Converters.Compare.SyntheticWeights.For(b.Graph);
            var path = OnnxExporter.Export(b.Graph, weights, Path.Combine(dir, "gemm.onnx"), new OnnxExportOptions(17)).ModelPath;
            using var ort = new OrtRunner(path, new OrtRunnerOptions(IntraOpThreads: threads));
            var x = new float[4096 * k];
            for (int i = 0; i < x.Length; i++) x[i] = (i % 17) / 17f - 0.5f;
            var inputs = new Dictionary<string, HostTensor> { ["x"] = new([1, 4096, k], x) };
            for (int r = 0; r < 8; r++)
            {
                var sw = Stopwatch.StartNew();
                ort.Run(inputs);
                best = Math.Max(best, 2.0 * 4096 * k * n / sw.Elapsed.TotalSeconds / 1e9);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
    Console.WriteLine(JsonSerializer.Serialize(new { gflops = best }));
    return 0;
}

static int ChildCopy(string source, string dest)
{
    // Read the source once untimed: the export reads a checkpoint that is hot in the page cache, so the copy it is compared
    // with reads a hot file too (a just-written file can be evicted on this box; a cold read made the copy 3-5x slower).
    using (var warm = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        warm.CopyTo(Stream.Null, 1 << 20);
    var sw = Stopwatch.StartNew();
    using (var i = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
    using (var o = new FileStream(dest, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
    {
        i.CopyTo(o, 1 << 20);
        o.Flush(flushToDisk: true);
    }
    Console.WriteLine(JsonSerializer.Serialize(new { seconds = sw.Elapsed.TotalSeconds, bytes = new FileInfo(dest).Length }));
    return 0;
}

static int ChildRun(string model, int threads, int size)
{
    var sw = Stopwatch.StartNew();
    using var ort = new OrtRunner(model, new OrtRunnerOptions(IntraOpThreads: threads));
    double create = sw.Elapsed.TotalSeconds;
    var rng = new Random(1234);
    var pixels = new float[3 * size * size];
    for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
    var inputs = new Dictionary<string, HostTensor> { [ort.Inputs[0].Name] = new([1, 3, size, size], pixels) };
    var times = new List<double>();
    for (int r = 0; r < 2; r++)
    {
        sw.Restart();
        ort.Run(inputs);
        times.Add(sw.Elapsed.TotalSeconds);
    }
    Console.WriteLine(JsonSerializer.Serialize(new { create_s = create, run_s = times, peak_rss_mb = PeakRssMb() }));
    return 0;
}
