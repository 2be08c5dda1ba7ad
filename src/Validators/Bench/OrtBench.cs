using System.Diagnostics;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;

namespace ModelForge.Validators.Bench;

/// <summary>Latency statistics over the timed runs, milliseconds (percentiles by nearest rank).</summary>
public sealed record LatencyStats(int Runs, double MinMs, double MedianMs, double P90Ms, double P99Ms, double MaxMs, double MeanMs)
{
    public static LatencyStats Of(IReadOnlyList<double> ms)
    {
        if (ms.Count == 0) throw new ArgumentException("no timed runs");
        var s = ms.OrderBy(x => x).ToArray();
        double Rank(double p) => s[Math.Clamp((int)Math.Ceiling(p * s.Length) - 1, 0, s.Length - 1)];
        return new LatencyStats(s.Length, s[0], Rank(0.5), Rank(0.9), Rank(0.99), s[^1], s.Average());
    }
}

/// <summary>How long and how often to run.</summary>
public sealed record BenchSettings(int Warmup = 2, int? Iterations = null, double? DurationSeconds = null, int MinIterations = 3)
{
    /// <summary>Whether run number <paramref name="done"/> (0-based count of finished timed runs) should be followed by another.</summary>
    public bool More(int done, TimeSpan elapsed) =>
        Iterations is { } n ? done < n : done < MinIterations || elapsed.TotalSeconds < (DurationSeconds ?? 10);
}

/// <summary>
/// Memory of a benchmark, bytes of resident memory: before the session, after it (weights loaded, graph optimised), the
/// peak while it was created, after the inputs were made, and the peak over warm-up and timed runs. "Run peak minus RSS
/// before the runs" is what inference added: activations, the runtime's arena and scratch.
/// </summary>
public sealed record BenchMemory(long RssBeforeSession, long PeakDuringSession, long RssAfterSession, long RssBeforeRuns,
    long PeakDuringRuns, bool PhasePeaks)
{
    /// <summary>Peak during the runs minus the RSS just before them.</summary>
    public long RunIncrease => Math.Max(0, PeakDuringRuns - RssBeforeRuns);
}

/// <summary>What a benchmark measured.</summary>
public sealed record BenchResult(
    string Model,
    string Provider,
    int Threads,
    IReadOnlyDictionary<string, string> InputShapes,
    double SessionSeconds,
    double FirstRunMs,
    LatencyStats Latency,
    double ThroughputPerSecond,
    long Batch,
    BenchMemory Memory);

/// <summary>What a benchmark times: created once (timed as "session creation"), inputs prepared once, then run repeatedly.</summary>
public interface IBenchTarget : IDisposable
{
    /// <summary>Makes and converts the inputs (untimed); returns their shapes by name.</summary>
    IReadOnlyDictionary<string, string> PrepareInputs();

    /// <summary>One inference over the prepared inputs.</summary>
    void RunOnce();
}

/// <summary>
/// trtexec-style timing: target creation (session / weight loading), warm-up, then timed runs; resident memory per phase
/// (<see cref="ProcessMemory"/>). Progress goes to <c>progress</c>.
/// </summary>
public static class BenchLoop
{
    public static BenchResult Run(string model, string provider, int threads, Func<IBenchTarget> create, BenchSettings settings,
        long batch = 1, Action<string>? progress = null)
    {
        bool phases = ProcessMemory.ResetPeak();
        long before = ProcessMemory.Rss;
        var clock = Stopwatch.StartNew();
        using var target = create();
        double session = clock.Elapsed.TotalSeconds;
        long sessionPeak = ProcessMemory.Peak, afterSession = ProcessMemory.Rss;
        progress?.Invoke($"session created in {session:F2} s (RSS {afterSession >> 20} MB)");

        var shapes = target.PrepareInputs();
        GC.Collect();
        phases &= ProcessMemory.ResetPeak();
        long beforeRuns = ProcessMemory.Rss;

        clock.Restart();
        target.RunOnce();
        double first = clock.Elapsed.TotalMilliseconds;
        progress?.Invoke($"first run {first:F1} ms");
        for (int i = 1; i < settings.Warmup; i++) target.RunOnce();

        // Without warm-up the first run is also the first timed one (long runs: one-time costs are noise).
        var times = new List<double>();
        if (settings.Warmup == 0) times.Add(first);
        var total = Stopwatch.StartNew();
        var report = Stopwatch.StartNew();
        while (settings.More(times.Count, total.Elapsed))
        {
            clock.Restart();
            target.RunOnce();
            times.Add(clock.Elapsed.TotalMilliseconds);
            if (report.Elapsed.TotalSeconds >= 2)
            {
                progress?.Invoke($"{times.Count} runs, median {LatencyStats.Of(times).MedianMs:F1} ms");
                report.Restart();
            }
        }
        var stats = LatencyStats.Of(times);
        var memory = new BenchMemory(before, sessionPeak, afterSession, beforeRuns, ProcessMemory.Peak, phases);
        return new BenchResult(model, provider, threads, shapes, session, first, stats, batch * 1000.0 / stats.MeanMs, batch, memory);
    }
}

/// <summary>
/// Timing of one ONNX model on ONNX Runtime over inputs converted once (outputs computed and released, nothing copied back).
/// </summary>
public static class OrtBench
{
    public static BenchResult Run(string modelPath, OrtRunnerOptions options,
        Func<OrtRunner, IReadOnlyDictionary<string, HostTensor>> makeInputs, BenchSettings settings, long batch = 1,
        Action<string>? progress = null) =>
        BenchLoop.Run(Path.GetFullPath(modelPath), options.Provider.ToString().ToLowerInvariant(), options.IntraOpThreads,
            () => new Target(new OrtRunner(modelPath, options), makeInputs), settings, batch, progress);

    private sealed class Target(OrtRunner runner, Func<OrtRunner, IReadOnlyDictionary<string, HostTensor>> makeInputs) : IBenchTarget
    {
        private PreparedInputs? _prepared;

        public IReadOnlyDictionary<string, string> PrepareInputs()
        {
            var inputs = makeInputs(runner);
            _prepared = runner.Prepare(inputs);
            return inputs.ToDictionary(kv => kv.Key, kv => kv.Value.ShapeText);
        }

        public void RunOnce() => runner.RunPrepared(_prepared ?? throw new InvalidOperationException("inputs not prepared"));

        public void Dispose()
        {
            _prepared?.Dispose();
            runner.Dispose();
        }
    }
}
