using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Compare;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Cli.Commands;

/// <summary>What ONNX Runtime measured for one graph run of a plan.</summary>
public sealed record MeasuredRun(string Part, string Bindings, double SessionSeconds, double MinMs, double MedianMs,
    long RssBeforeRunsBytes, long RunPeakBytes, long RunIncreaseBytes);

/// <summary>Measured figures of one comparison cell (runs in sequence: latencies add, the memory peak is the largest).</summary>
public sealed record MeasuredRow(string Family, string Page, IReadOnlyList<MeasuredRun> Runs, string? Skipped)
{
    public double? LatencyMs => Skipped is null ? Runs.Sum(r => r.MedianMs) : null;

    public double? MinLatencyMs => Skipped is null ? Runs.Sum(r => r.MinMs) : null;

    public long? RunIncreaseBytes => Skipped is null ? Runs.Max(r => r.RunIncreaseBytes) : null;

    public long? RunPeakBytes => Skipped is null ? Runs.Max(r => r.RunPeakBytes) : null;
}

/// <summary>
/// `compare --measure`: each graph of the plans is exported once with <see cref="SyntheticWeights"/> of the released shapes
/// into a temporary folder, then timed by `modelforge bench` in a CHILD process per run, so that each measurement has its
/// own resident-memory high-water mark (weights, session and runs of one model only). The folder is deleted when the graph
/// has been measured for every page, so at most one model's weights are on disk at a time.
/// </summary>
public sealed class CompareMeasure(string ep, int threads, int iterations, long limitBytes)
{
    public IReadOnlyList<MeasuredRow> Run(IReadOnlyList<CompareRow> rows)
    {
        var results = new Dictionary<(string, string), List<MeasuredRun>>();
        var skipped = new Dictionary<(string, string), string>();
        foreach (var row in rows)
        {
            long predicted = row.ActivationPeakBytes + row.WeightBytes;
            if (predicted > limitBytes)
                skipped[(row.Family, row.Page)] =
                    $"model predicts {predicted >> 20} MB (activations + weights) > --measure-limit {limitBytes >> 20} MB";
        }
        // Group the runs by graph so that each graph is exported once.
        var byGraph = rows.Where(r => !skipped.ContainsKey((r.Family, r.Page)))
            .SelectMany(r => r.Runs.Select(run => (Row: r, Run: run.Run)))
            .GroupBy(x => (x.Row.Architecture, x.Run.Request));
        string root = Path.Combine(Path.GetTempPath(), $"modelforge-compare-{Environment.ProcessId}");
        try
        {
            foreach (var group in byGraph)
            {
                var arch = ArchitectureRegistry.Get(group.Key.Architecture);
                var graph = arch.Build(null, group.Key.Request);
                graph.PruneUnused();
                string dir = Path.Combine(root, $"{arch.Name}-{group.First().Run.Part}-{group.Key.Request.ImageSize ?? 0}");
                Directory.CreateDirectory(dir);
                string file = Path.Combine(dir, "model.onnx");
                BenchOutput.Progress(
                    $"measure: exporting {arch.Name} {group.First().Run.Part} ({graph.ParameterCount / 1e6:F0} M synthetic parameters)");
                OnnxExporter.Export(graph, SyntheticWeights.For(graph), file, new OnnxExportOptions());
                // The same graph with the same axis values (Base on every page, Gundam on every page it tiles 2x2) is timed once.
                var done = new Dictionary<string, MeasuredRun>(StringComparer.Ordinal);
                foreach (var (row, run) in group)
                {
                    string dims = string.Join(" ",
                        run.Bindings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
                    if (!done.TryGetValue(dims, out var m))
                    {
                        BenchOutput.Progress($"measure: {row.Family} page {row.Page}: {run.Part} {dims}");
                        // Runs of many seconds need no warm-up; short ones get one.
                        int warmup = row.Runs.First(r => r.Run == run).Cost.Flops > WarmupBelowFlops ? 0 : 1;
                        done[dims] = m = Bench(file, run.Bindings, warmup, InputsFile(dir, done.Count, run));
                    }
                    var key = (row.Family, row.Page);
                    if (!results.TryGetValue(key, out var list)) results[key] = list = [];
                    list.Add(m with { Part = run.Part, Bindings = dims });
                }
                Directory.Delete(dir, recursive: true);
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
        return rows.Select(r => skipped.TryGetValue((r.Family, r.Page), out var why)
            ? new MeasuredRow(r.Family, r.Page, [], why)
            : new MeasuredRow(r.Family, r.Page, results[(r.Family, r.Page)], null)).ToArray();
    }

    /// <summary>Graph runs above this many FLOPs (seconds on a CPU) are timed without a warm-up run.</summary>
    public const double WarmupBelowFlops = 500e9;

    /// <summary>The run's host-derived inputs written for `bench --inputs` (null: bench feeds random floats).</summary>
    private static string? InputsFile(string dir, int index, GraphRun run)
    {
        if (run.Inputs is null) return null;
        string path = Path.Combine(dir, $"inputs-{index}.safetensors");
        var tensors = run.Inputs().Select(kv => kv.Value.Longs is { } longs
            ? new WritableTensor(kv.Key, DataType.Int64, kv.Value.Shape, () => MemoryMarshal.AsBytes(longs.AsSpan()).ToArray())
            : new WritableTensor(kv.Key, DataType.Float32, kv.Value.Shape, () => MemoryMarshal.AsBytes(kv.Value.Data.AsSpan()).ToArray()));
        SafetensorsWriter.Write(path, tensors.ToArray());
        return path;
    }

    private MeasuredRun Bench(string file, IReadOnlyDictionary<string, long> bindings, int warmup, string? inputs)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the modelforge executable");
        psi.FileName = self;
        // Under `dotnet modelforge.dll` the process is dotnet: pass the entry assembly first.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        string Int(int v) => v.ToString(CultureInfo.InvariantCulture);
        foreach (var a in new[]
                 {
                     "bench", file, "--json", "--no-arena", "--ep", ep, "--threads", Int(threads), "--warmup", Int(warmup),
                     "--iterations", Int(iterations),
                 })
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in bindings)
        {
            psi.ArgumentList.Add("--dim");
            psi.ArgumentList.Add($"{k}={v}");
        }
        if (inputs is not null)
        {
            psi.ArgumentList.Add("--inputs");
            psi.ArgumentList.Add(inputs);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start modelforge bench");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException(
                $"modelforge bench {file} failed (exit {p.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}");
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement[0];
        var lat = r.GetProperty("latency");
        var mem = r.GetProperty("memory");
        return new MeasuredRun("", "", r.GetProperty("session_seconds").GetDouble(), lat.GetProperty("min_ms").GetDouble(),
            lat.GetProperty("median_ms").GetDouble(),
            mem.GetProperty("rss_before_runs").GetInt64(), mem.GetProperty("peak_during_runs").GetInt64(),
            Math.Max(0, mem.GetProperty("peak_during_runs").GetInt64() - mem.GetProperty("rss_before_runs").GetInt64()));
    }
}
