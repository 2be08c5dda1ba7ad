using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Bench;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Torch;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge bench`: trtexec-like timing of an exported model (a .onnx file, or every part of an export folder) on ONNX
/// Runtime: session creation, latency min/median/p90/p99/max, throughput, resident memory per phase.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "An export folder (manifest.json + parts) or a .onnx file" };
        var threads = new Option<int>("--threads")
        {
            Description = "Intra-op threads (0 = ONNX Runtime's default: one per core)",
            DefaultValueFactory = _ => 0,
        };
        var batch = new Option<int>("--batch")
        {
            Description = "Value of every symbolic axis not set by --dim (batch B, tiles T, tokens M)",
            DefaultValueFactory = _ => 1,
        };
        var dims = new Option<string[]>("--dim")
        {
            Description = "Bind one symbolic axis: NAME=VALUE (repeatable), e.g. --dim T=6 --dim M=1369",
            AllowMultipleArgumentsPerToken = false,
        };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first", DefaultValueFactory = _ => 2 };
        var iterations = new Option<int?>("--iterations") { Description = "Timed runs (default: for --duration)" };
        var duration = new Option<double?>("--duration") { Description = "Seconds of timed runs (default 10; at least 3 runs)" };
        var inputs = new Option<string?>("--inputs")
        {
            Description = "A .safetensors file with tensors named as the model's inputs (default: seeded random)",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON on stdout" };
        var noArena = new Option<bool>("--no-arena")
        {
            Description = "Disable ONNX Runtime's CPU arena and memory patterns and unmap freed blocks >= 64 KiB at once "
                + "(RSS then follows the live tensors)",
        };
        var reference = new Option<bool>("--reference")
        {
            Description = "Also time the TorchSharp reference path on the same graph and inputs (needs --checkpoint)",
        };
        var arch = CommonOptions.Arch();
        var checkpoint = CommonOptions.Checkpoint();
        var config = CommonOptions.Config();
        var imageSize = CommonOptions.ImageSize();
        var cmd = new Command("bench", "Time an exported model on ONNX Runtime (latency percentiles, throughput, memory)")
        {
            model, threads, batch, dims, warmup, iterations, duration, inputs, seed, json, noArena, reference, arch, checkpoint, config,
                imageSize,
        };
        // --ep, --device-id and the TensorRT settings as validate and run take them (one refusal line where a provider cannot load).
        var providers = new ProviderOptions();
        providers.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var options = WithThreads(providers.Resolve(parse), parse.GetValue(threads)) with { MemoryArena = !parse.GetValue(noArena) };
            if (!options.MemoryArena && !ProcessMemory.ReturnLargeBlocksToOs())
                BenchOutput.Progress("note: could not set the allocator's mmap threshold (not glibc?)");
            int b = parse.GetValue(batch);
            if (b < 1) throw new UsageException($"--batch {b}: must be at least 1");
            var bindings = ParseDims(parse.GetValue(dims) ?? []);
            var settings = Settings(parse.GetValue(warmup), parse.GetValue(iterations), parse.GetValue(duration));
            var files = ModelFiles(parse.GetValue(model)!);
            string? inputFile = parse.GetValue(inputs);
            if (inputFile is not null && !File.Exists(inputFile)) throw new UsageException($"--inputs {inputFile}: file not found");
            bool withReference = parse.GetValue(reference);
            if (withReference && parse.GetValue(checkpoint) is null)
                throw new UsageException("--reference needs --checkpoint (the weights the TorchSharp path loads)");
            if (!withReference && (parse.GetValue(checkpoint) ?? parse.GetValue(arch)) is not null)
                throw new UsageException("--arch/--checkpoint apply to --reference only");
            using var cfg = CommonOptions.ReadConfig(parse.GetValue(config));
            var results = new List<BenchResult>();
            foreach (var file in files)
            {
                BenchOutput.Progress($"bench {file}");
                IReadOnlyDictionary<string, HostTensor>? used = null;
                results.Add(OrtBench.Run(file, options,
                    r => used = inputFile is null ? RandomInputs(r, bindings, b, parse.GetValue(seed)) : FileInputs(r, inputFile),
                    settings, BatchOf(bindings, b), BenchOutput.Progress));
                if (!withReference) continue;
                var (architecture, config, request) = GraphOf(file, parse.GetValue(arch), cfg?.RootElement, parse.GetValue(imageSize));
                BenchOutput.Progress($"bench {architecture.Name} reference (TorchSharp, cpu)");
                using var ckpt = Checkpoint.Open(parse.GetValue(checkpoint)!);
                var graph = architecture.Build(config, request);
                WeightBinder.Verify(graph, ckpt, architecture.Adapter);
                graph.PruneUnused();
                TorchRuntime.Initialize(ComputeDevice.Cpu);
                results.Add(TorchBench.Run(graph, new CheckpointWeights(ckpt, architecture.Adapter), "cpu", options.IntraOpThreads, used!,
                    settings, BatchOf(bindings, b), BenchOutput.Progress));
            }
            if (parse.GetValue(json)) Console.WriteLine(BenchOutput.Serialize(results));
            else Print(results);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// The runner options for a bare --ep name and --threads (compare --measure, which passes both on to bench): parsed and
    /// checked for this build and machine by <see cref="ExecutionProviders"/>, as <see cref="ProviderOptions"/> does.
    /// </summary>
    public static OrtRunnerOptions Provider(string ep, int threads)
    {
        CheckThreads(threads);
        if (ep.ToLowerInvariant() is not ("cpu" or "cuda" or "tensorrt"))
            throw new UsageException($"--ep {ep}: unknown execution provider (cpu, cuda, tensorrt)");
        var provider = ExecutionProviders.Parse(ep);
        ExecutionProviders.Require(provider);
        return new OrtRunnerOptions(provider, threads);
    }

    /// <summary><paramref name="options"/> with --threads (0 = ONNX Runtime's default) as its intra-op thread count.</summary>
    public static OrtRunnerOptions WithThreads(OrtRunnerOptions options, int threads)
    {
        CheckThreads(threads);
        return options with { IntraOpThreads = threads };
    }

    private static void CheckThreads(int threads)
    {
        if (threads < 0) throw new UsageException($"--threads {threads}: must be 0 (default) or positive");
    }

    public static BenchSettings Settings(int warmup, int? iterations, double? duration)
    {
        if (warmup < 0) throw new UsageException($"--warmup {warmup}: must be 0 or more");
        if (iterations is not null && duration is not null) throw new UsageException("--iterations and --duration: give one of them");
        if (iterations is < 1) throw new UsageException($"--iterations {iterations}: must be at least 1");
        if (duration is { } d && (d <= 0 || double.IsNaN(d) || d > 86400))
            throw new UsageException($"--duration {d}: must be between 0 and 86400 seconds");
        return new BenchSettings(warmup, iterations, duration);
    }

    /// <summary>NAME=VALUE pairs (positive integers).</summary>
    public static Dictionary<string, long> ParseDims(IEnumerable<string> specs)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var parts = spec.Split('=', 2);
            if (parts.Length != 2 || parts[0].Length == 0
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v < 1 || v > 1 << 24)
                throw new UsageException($"--dim {spec}: expected NAME=VALUE with VALUE between 1 and {1 << 24}");
            result[parts[0]] = v;
        }
        return result;
    }

    /// <summary>
    /// The graph an .onnx file was exported from: --arch/--config/--image-size, else the export folder's manifest.json
    /// (architecture, config, the part's image size; the "local" part of a tiled mode is the tile graph).
    /// </summary>
    private static (Architecture Arch, JsonElement? Config, BuildRequest Request) GraphOf(string file, string? arch, JsonElement? config,
        int? imageSize)
    {
        string manifest = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, "manifest.json");
        if (arch is not null || !File.Exists(manifest))
        {
            if (arch is null)
                throw new UsageException($"--reference: {file} has no manifest.json beside it; give --arch (and --config, --image-size)");
            return (ArchitectureRegistry.Get(arch), config, new BuildRequest(imageSize));
        }
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            var root = doc.RootElement;
            var part = root.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("file").GetString() == Path.GetFileName(file));
            int? size = part.TryGetProperty("image_size", out var s) && s.ValueKind == JsonValueKind.String
                ? int.Parse(s.GetString()!, CultureInfo.InvariantCulture) : null;
            bool tiles = part.GetProperty("name").GetString() == "local";
            var request = new BuildRequest(imageSize ?? size, tiles ? "T" : "B", Tiles: tiles);
            return (ArchitectureRegistry.Get(root.GetProperty("architecture").GetString()!), config ?? root.GetProperty("config").Clone(),
                request);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private static long BatchOf(IReadOnlyDictionary<string, long> bindings, int batch) =>
        bindings.TryGetValue("B", out long b) ? b : bindings.TryGetValue("T", out long t) ? t : batch;

    /// <summary>A .onnx file, or the parts listed in an export folder's manifest.json.</summary>
    private static IReadOnlyList<string> ModelFiles(string path)
    {
        if (File.Exists(path)) return [path];
        string manifest = Path.Combine(path, "manifest.json");
        if (!Directory.Exists(path)) throw new UsageException($"{path}: no such file or folder");
        if (!File.Exists(manifest))
            throw new UsageException($"{path}: a folder without manifest.json (give an export folder or a .onnx file)");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            var files = doc.RootElement.GetProperty("parts").EnumerateArray()
                .Select(p => Path.Combine(path, p.GetProperty("file").GetString()!)).ToArray();
            return files.Length > 0 ? files : throw new UsageException($"{manifest}: lists no parts");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>
    /// Seeded uniform [-1, 1] inputs of the declared shapes; a symbolic dimension "k*S" is k times the value bound to S
    /// (--dim, else --batch). A square [S, S] input (Qwen2-VL's attention_bias) is all zeros: one image, nothing masked.
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> RandomInputs(OrtRunner runner, IReadOnlyDictionary<string, long> bindings,
        int batch, int seed)
    {
        var rng = new Random(seed);
        var symbols = runner.InputSymbols.ToDictionary(s => s.Name, s => s.Symbols);
        var result = new Dictionary<string, HostTensor>();
        foreach (var (name, type, dims) in runner.Inputs)
        {
            if (type != "Float")
                throw new UsageException(
                    $"{runner.ModelPath}: input '{name}' is {type}; random inputs are made only for float inputs (give --inputs)");
            var sym = symbols[name];
            var shape = dims.Select((d, i) => d > 0 ? d : Bind(sym[i], bindings, batch, name)).ToArray();
            long count = shape.Aggregate(1L, (a, d) => checked(a * d));
            if (count > 1L << 31)
                throw new UsageException($"input '{name}' [{string.Join(", ", shape)}] would hold {count} values; bind smaller axes");
            var data = new float[count];
            bool mask = shape.Length >= 2 && sym.Length >= 2 && sym[^1].Length > 0 && sym[^1] == sym[^2];
            if (!mask) for (long k = 0; k < count; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            result[name] = new HostTensor(shape, data);
        }
        return result;
    }

    private static long Bind(string symbol, IReadOnlyDictionary<string, long> bindings, int batch, string input)
    {
        // "B", "T", "M" or "4*M" (the IR writes monomials).
        var parts = symbol.Split('*');
        long factor = 1;
        string name = symbol;
        if (parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long f))
            (factor, name) = (f, parts[1]);
        if (name.Length == 0) throw new UsageException($"input '{input}' has an unnamed dynamic axis; give --inputs");
        return checked(factor * bindings.GetValueOrDefault(name, batch));
    }

    private static IReadOnlyDictionary<string, HostTensor> FileInputs(OrtRunner runner, string file)
    {
        using var st = SafetensorsFile.Open(file);
        var result = new Dictionary<string, HostTensor>();
        foreach (var (name, _, _) in runner.Inputs)
        {
            if (!st.Contains(name))
            {
                string names = string.Join(", ", runner.Inputs.Select(i => i.Name));
                throw new UsageException($"--inputs {file}: no tensor named '{name}' (the model's inputs: {names})");
            }
            // Integer inputs (Qwen2.5-VL's window order and slots, grid indices) keep their int64 values.
            var info = st.Get(name);
            result[name] = info.DType == DataType.Int64
                ? new HostTensor(info.Shape, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(st.GetBytes(name)).ToArray())
                : new HostTensor(info.Shape, st.ReadAsFloat32(name));
        }
        return result;
    }

    private static void Print(IReadOnlyList<BenchResult> results)
    {
        foreach (var r in results)
        {
            var t = new Table().AddColumn("").AddColumn(Markup.Escape(Path.GetFileName(r.Model)));
            void Row(string k, string v) => t.AddRow(Markup.Escape(k), Markup.Escape(v));
            Row("provider / threads", $"{r.Provider} / {(r.Threads == 0 ? "default" : r.Threads.ToString(CultureInfo.InvariantCulture))}");
            Row("inputs", string.Join(", ", r.InputShapes.Select(kv => $"{kv.Key} {kv.Value}")));
            Row("session creation", $"{r.SessionSeconds:F2} s");
            Row("first run", $"{r.FirstRunMs:F1} ms");
            var l = r.Latency;
            Row($"latency ({l.Runs} runs)",
                $"min {l.MinMs:F1}  median {l.MedianMs:F1}  p90 {l.P90Ms:F1}  p99 {l.P99Ms:F1}  max {l.MaxMs:F1} ms");
            Row("throughput", $"{r.ThroughputPerSecond:F2} samples/s (batch {r.Batch}, mean latency)");
            var m = r.Memory;
            Row("RSS before / after session",
                $"{Mb(m.RssBeforeSession)} / {Mb(m.RssAfterSession)} MB (peak while creating {Mb(m.PeakDuringSession)} MB)");
            Row("RSS peak during runs",
                $"{Mb(m.PeakDuringRuns)} MB (+{Mb(m.RunIncrease)} MB over the {Mb(m.RssBeforeRuns)} MB before the runs)"
                + (m.PhasePeaks ? "" : "; peak could not be reset: whole-process high-water mark"));
            AnsiConsole.Write(t);
        }
        foreach (var r in results.Where(r => r.Provider.StartsWith("torchsharp", StringComparison.Ordinal)))
        {
            int i = results.ToList().IndexOf(r);
            if (i > 0)
            {
                double ratio = r.Latency.MedianMs / results[i - 1].Latency.MedianMs;
                AnsiConsole.MarkupLine(Markup.Escape($"reference / exported median latency: {ratio:F2}x (same inputs, one process)"));
            }
        }
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F0", CultureInfo.InvariantCulture);
}
