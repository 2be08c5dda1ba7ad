using System.Globalization;
using System.Text.Json;
using ModelForge.Converters.Bundles;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Parity;

namespace ModelForge.Validators.Bundles;

/// <summary>What happened to a bundle's engine: built (a real trtexec ran), not built (why), or the build failed.</summary>
public sealed record EngineOutcome(string Status, string Message, string? Trtexec = null, string? TensorRtVersion = null,
    string? ComputeCapability = null)
{
    public const string Built = "built", NotBuilt = "not built", Failed = "failed";

    public bool IsBuilt => Status == Built;
}

/// <summary>
/// Builds a bundle's engines with trtexec (bounded time, output kept in engine/build-PART.log) and runs them on given
/// inputs through trtexec --loadInputs/--exportOutput. A run that printed the stand-in marker is bookkeeping only:
/// its outcome is "not built", whatever files it wrote.
/// </summary>
public static class BundleEngine
{
    /// <summary>Runs the build plan of every part in <paramref name="bundleDir"/>; returns the outcome.</summary>
    public static EngineOutcome Build(string trtexec, string bundleDir, IReadOnlyList<TrtPartPlan> parts, TimeSpan limit,
        Action<string>? progress = null)
    {
        Directory.CreateDirectory(Path.Combine(bundleDir, TrtBuildPlan.EngineDir));
        string? version = null;
        bool standIn = false;
        foreach (var p in parts)
        {
            progress?.Invoke($"trtexec: building {p.Engine} (at most {limit.TotalMinutes:F0} min)");
            var run = Trtexec.Run(trtexec, p.Arguments, bundleDir, limit);
            File.WriteAllText(Path.Combine(bundleDir, TrtBuildPlan.EngineDir, $"build-{p.Part}.log"), run.Output);
            version ??= run.TensorRtVersion;
            standIn |= run.StandIn;
            if (run.ExitCode is null)
                return new EngineOutcome(EngineOutcome.Failed,
                    $"trtexec did not finish building {p.Engine} within {limit.TotalSeconds:F0} s; log in engine/build-{p.Part}.log",
                    trtexec, version);
            if (!run.Succeeded)
                return new EngineOutcome(EngineOutcome.Failed,
                    $"trtexec exited {run.ExitCode} building {p.Engine}: {run.LastError} (log in engine/build-{p.Part}.log)",
                    trtexec, version);
            if (!File.Exists(Path.Combine(bundleDir, p.Engine)))
                return new EngineOutcome(EngineOutcome.Failed,
                    $"trtexec exited 0 but wrote no {p.Engine} (log in engine/build-{p.Part}.log)", trtexec, version);
        }
        if (standIn)
            return new EngineOutcome(EngineOutcome.NotBuilt,
                $"the trtexec at {trtexec} is a stand-in (it printed {Trtexec.StandInMarker}): "
                + "arguments and bookkeeping were exercised, no TensorRT engine exists; the files under engine/ are the stand-in's",
                    trtexec, version);
        return new EngineOutcome(EngineOutcome.Built, $"built with TensorRT {version ?? "(version not printed)"} by {trtexec}", trtexec,
            version, ComputeCapability());
    }

    /// <summary>The first GPU's compute capability from nvidia-smi (e.g. "9.0"), or null without nvidia-smi.</summary>
    public static string? ComputeCapability()
    {
        string? smi = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "nvidia-smi")).FirstOrDefault(File.Exists);
        if (smi is null) return null;
        try
        {
            var run = Trtexec.Run(smi, ["--query-gpu=compute_cap", "--format=csv,noheader"], Directory.GetCurrentDirectory(),
                TimeSpan.FromSeconds(20));
            return run.Succeeded ? run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .FirstOrDefault() : null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs an engine on <paramref name="inputs"/> with trtexec and reads its --exportOutput JSON. Inputs are written as
    /// raw little-endian files in the engine's input dtypes (<paramref name="inputDTypes"/>) in a temporary folder.
    /// </summary>
    public static (TrtexecRun Run, IReadOnlyDictionary<string, HostTensor> Outputs) Infer(string trtexec, string bundleDir, string engine,
        IReadOnlyDictionary<string, HostTensor> inputs, IReadOnlyDictionary<string, string> inputDTypes, TimeSpan limit)
    {
        string tmp = Path.Combine(Path.GetTempPath(), $"modelforge-engine-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            var files = new List<(string, long[], string)>();
            foreach (var (name, t) in inputs.OrderBy(i => i.Key, StringComparer.Ordinal))
            {
                string file = Path.Combine(tmp, $"input{files.Count}.bin");
                File.WriteAllBytes(file, RawBytes(t, inputDTypes.GetValueOrDefault(name, "f32")));
                files.Add((name, t.Shape, file));
            }
            string json = Path.Combine(tmp, "outputs.json");
            var run = Trtexec.Run(trtexec, TrtBuildPlan.Inference(engine, files, json), bundleDir, limit);
            if (!run.Succeeded) return (run, new Dictionary<string, HostTensor>());
            return (run, File.Exists(json) ? ReadOutputs(json) : new Dictionary<string, HostTensor>());
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    /// <summary>A host tensor as raw bytes of dtype f32, f16 or bf16 (what trtexec --loadInputs reads).</summary>
    public static byte[] RawBytes(HostTensor t, string dtype)
    {
        var f = t.Floats ?? throw new ArgumentException("engine inputs must be floating point");
        switch (dtype)
        {
            case "f16":
                return f.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray();
            case "bf16":
                // Round to nearest even, as torch does.
                return f.SelectMany(v =>
                {
                    uint bits = BitConverter.SingleToUInt32Bits(v);
                    ushort b = float.IsNaN(v) ? (ushort)0x7FC0 : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
                    return BitConverter.GetBytes(b);
                }).ToArray();
            default:
                var bytes = new byte[f.Length * 4];
                Buffer.BlockCopy(f, 0, bytes, 0, bytes.Length);
                return bytes;
        }
    }

    /// <summary>Reads trtexec's --exportOutput file: [{"name", "dimensions": "1x273x1280", "values": [..]}].</summary>
    public static IReadOnlyDictionary<string, HostTensor> ReadOutputs(string json)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json), new JsonDocumentOptions { MaxDepth = 16 });
        var result = new Dictionary<string, HostTensor>();
        foreach (var o in doc.RootElement.EnumerateArray())
        {
            string name = o.GetProperty("name").GetString() ?? throw new FormatException($"{json}: output without a name");
            long[] dims = (o.GetProperty("dimensions").GetString() ?? "").Split('x', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
            var values = o.GetProperty("values").EnumerateArray()
                .Select(v => v.ValueKind == JsonValueKind.Number ? v.GetSingle() : float.NaN).ToArray();
            if (values.LongLength != dims.Aggregate(1L, (a, d) => a * d))
                throw new FormatException($"{json}: output {name} has {values.Length} values for dimensions {string.Join('x', dims)}");
            result[name] = new HostTensor(dims, values);
        }
        return result;
    }

    /// <summary>Engine-vs-reference figures of one part (trtexec prints values with 6 significant digits: fine for fp16/bf16).</summary>
    public static List<ParityFigure> Compare(string part, string caseName, IReadOnlyDictionary<string, HostTensor> engine,
        IReadOnlyDictionary<string, HostTensor> reference, IEnumerable<string> outputs, Tolerance tol) =>
        outputs.Select(o => BundleParity.Compare(part, caseName, o, "engine vs reference", engine, reference, tol)).ToList();
}
