using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;

namespace ModelForge.Converters.Artifacts;

/// <summary>
/// What to export: family, checkpoint, optional config document, the graphs (one "model" part, or a mode's parts such
/// as "global" + "local"), destination.
/// Entry point for other targets (e.g. a TensorRT bundle writer): pass <paramref name="Target"/> (Targets.TensorRt("10.14"))
/// and <paramref name="Precision"/> (target.Precision.Plan(DataType.Float16)); the pipeline then runs the target's passes,
/// applies the plan, writes ONNX at the target's opset with only its allowed ops (refusing any other), and records target,
/// passes and plan in manifest.json. The target's opset wins over <see cref="OnnxExportOptions.Opset"/>.
/// <paramref name="Passes"/>: null = the target's pipeline, [] = none (the unoptimized graph, for comparisons).
/// </summary>
public sealed record ExportRequest(
    Architecture Architecture,
    string CheckpointPath,
    JsonElement? Config,
    IReadOnlyList<ArtifactPart> Parts,
    string OutDir,
    OnnxExportOptions Onnx,
    bool Force = false,
    string? Mode = null,
    Target? Target = null,
    PrecisionPlan? Precision = null,
    IReadOnlyList<string>? Passes = null,
    string? ConfigPath = null)
{
    /// <summary>Where each config field came from (config.json field, original class default, --config, checkpoint keys).</summary>
    public IReadOnlyDictionary<string, string>? ConfigSources { get; init; }

    /// <summary>The checkpoint folder's processor parameters (resize, normalisation, tiling), for the manifest.</summary>
    public JsonElement? Preprocessing { get; init; }

    /// <summary>The target in effect: the given one, else `onnx` at the options' opset.</summary>
    public Target EffectiveTarget => Target ?? Targets.Targets.Onnx(Onnx.Opset);

    /// <summary>The pass names run on every part.</summary>
    public IReadOnlyList<string> EffectivePasses => Passes ?? EffectiveTarget.Passes;

    /// <summary>The ONNX writer's options under the target (its opset and allowed ops).</summary>
    public OnnxExportOptions EffectiveOnnx => Onnx with { Opset = EffectiveTarget.Opset, AllowedOps = EffectiveTarget.AllowedOps };
}

/// <summary>What one part of an export wrote.</summary>
public sealed record ExportedPart(string Name, string ModelPath, string? ExternalDataPath, IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs, int Nodes);

/// <summary>What an export wrote.</summary>
public sealed record ExportSummary(string OutDir, IReadOnlyList<ExportedPart> Parts, long TotalBytes, long Parameters, TimeSpan Elapsed);

/// <summary>
/// checkpoint -> adapter check -> graph -> ONNX (+ external data) -> manifest, written atomically into OutDir.
/// Checks everything the user controls (checkpoint layout, config, back-end support) before writing a byte.
/// </summary>
public static class ExportPipeline
{
    public static ExportSummary Run(ExportRequest r, Action<string>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        // Progress messages are "phase: detail" (the CLI times each one until the next and sums per phase).
        progress?.Invoke($"open: checkpoint {r.CheckpointPath}");
        using var checkpoint = Checkpoint.Open(r.CheckpointPath);
        // Before anything is built: --out must not be, hold or lie inside an input, nor (with --force) be a non-artifact.
        OutputGuard.CheckFolder("--out", r.OutDir, [.. checkpoint.Files, .. r.ConfigPath is null ? [] : new[] { r.ConfigPath }],
            Directory.Exists(r.CheckpointPath) ? [r.CheckpointPath] : [], r.Force);
        var adapter = r.Architecture.AdapterFor(r.Config);
        var graphs = new List<(ArtifactPart Part, Graph Graph)>();
        var passReports = new Dictionary<string, PassReport>();
        long parameters = 0;
        var onnx = r.EffectiveOnnx;
        var plan = r.Precision ?? PrecisionPlan.Fp32;
        foreach (var part in r.Parts)
        {
            progress?.Invoke($"build: {r.Architecture.Name} graph '{part.Name}'");
            var graph = r.Architecture.Build(r.Config, part.Request);
            progress?.Invoke($"verify: graph '{part.Name}' ({graph.Metadata.GetValueOrDefault("image_size", "?")} px, " +
                $"{graph.Nodes.Count} nodes) against the checkpoint");
            WeightBinder.Verify(graph, checkpoint, adapter);
            parameters = Math.Max(parameters, graph.ParameterCount);
            graph.PruneUnused();
            var report = PassManager.For(r.EffectivePasses).Run(graph);
            passReports[part.Name] = report;
            if (r.EffectivePasses.Count > 0)
                progress?.Invoke($"passes on '{part.Name}': {graph.Nodes.Count} nodes ({string.Join("; ", report.Summary())})");
            graph = PrecisionRewriter.Apply(graph, plan);
            var unsupported = OnnxExporter.Unsupported(graph, onnx);
            if (unsupported.Count > 0)
                throw new ArtifactException($"the ONNX back-end cannot take {unsupported.Count} nodes of '{part.Name}': " +
                    $"{string.Join(", ", unsupported.Take(10))}");
            graphs.Add((part, graph));
        }

        using var staging = AtomicDirectory.Begin(r.OutDir, r.Force);
        var weights = new CheckpointWeights(checkpoint, adapter);
        var written = new List<(ArtifactPart Part, Graph Graph, OnnxExportResult Result)>();
        try
        {
            if (graphs.Count > 1 && graphs.Any(g => ExternalBytes(g.Graph) > onnx.ExternalDataThreshold))
            {
                // The parts of one artifact share ONE external-data file: weights both parts read are written once.
                progress?.Invoke($"write: {string.Join(" + ", graphs.Select(g => g.Part.Name + ".onnx"))} against {SharedDataFile} " +
                    "(weights converted and streamed)");
                var results = OnnxExporter.ExportShared(
                    graphs.Select(g => (g.Graph, Path.Combine(staging.Staging, g.Part.Name + ".onnx"))).ToArray(),
                    weights, Path.Combine(staging.Staging, SharedDataFile), onnx);
                written.AddRange(graphs.Select((g, i) => (g.Part, g.Graph, results[i])));
            }
            else
            {
                foreach (var (part, graph) in graphs)
                {
                    progress?.Invoke($"write: {part.Name}.onnx (weights converted and streamed)");
                    written.Add((part, graph,
                        OnnxExporter.Export(graph, weights, Path.Combine(staging.Staging, part.Name + ".onnx"), onnx)));
                }
            }
            var known = written.Where(w => w.Result.ExternalDataSha256 is not null)
                .GroupBy(w => Path.GetFileName(w.Result.ExternalDataPath!))
                .ToDictionary(g => g.Key, g => g.First().Result.ExternalDataSha256!);
            progress?.Invoke("manifest: sha256 of every file");
            WriteManifest(Path.Combine(staging.Staging, "manifest.json"), r, written.Select(w => (w.Part, w.Graph)).ToList(), parameters,
                staging.Staging, passReports, known);
        }
        catch (IOException e) when (e is not IO.InputFileException)
        {
            // Disk full, quota, I/O error on the destination's file system: the user's environment, not a bug (exit 2).
            throw AtomicDirectory.WriteFailure(staging.Destination, e);
        }
        staging.Commit();

        string Final(string p) => Path.Combine(staging.Destination, Path.GetFileName(p));
        long bytes = Directory.EnumerateFiles(staging.Destination).Sum(f => new FileInfo(f).Length);
        var parts = written.Select(w => new ExportedPart(w.Part.Name, Final(w.Result.ModelPath),
            w.Result.ExternalDataPath is null ? null : Final(w.Result.ExternalDataPath),
            w.Graph.Inputs.Select(i => $"{i.Name} {i.Type}").ToArray(), w.Graph.Outputs.Select(o => $"{o.Name} {o.Type}").ToArray(),
            w.Graph.Nodes.Count)).ToArray();
        return new ExportSummary(staging.Destination, parts, bytes, parameters, clock.Elapsed);
    }

    /// <summary>Name of the external-data file the parts of a multi-part artifact share.</summary>
    public const string SharedDataFile = "weights.onnx.data";

    private static long ExternalBytes(Graph g) => g.Initializers.Sum(i => i.Value.Shape.ElementCount.Value * i.Value.DType.SizeOf());

    /// <summary>manifest.json: what the artifact is and how it was made; deterministic (no timestamps).</summary>
    private static void WriteManifest(string path, ExportRequest r, IReadOnlyList<(ArtifactPart Part, Graph Graph)> graphs, long parameters,
        string dir,
        IReadOnlyDictionary<string, PassReport> passes, IReadOnlyDictionary<string, string> knownSha256)
    {
        var plan = r.Precision ?? PrecisionPlan.Fp32;
        var files = Directory.EnumerateFiles(dir).Where(f => Path.GetFileName(f) != "manifest.json").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new Dictionary<string, object>
            {
                ["name"] = Path.GetFileName(f), ["bytes"] = new FileInfo(f).Length,
                ["sha256"] = knownSha256.GetValueOrDefault(Path.GetFileName(f)) ?? Sha256(f)
            })
            .ToArray();
        var manifest = new Dictionary<string, object?>
        {
            ["format"] = "modelforge-artifact/1",
            ["architecture"] = r.Architecture.Name,
            ["target"] = r.EffectiveTarget.Name,
            ["opset"] = r.EffectiveTarget.Opset,
            ["target_profile"] = r.EffectiveTarget.Describe(),
            ["passes"] = r.EffectivePasses.ToArray(),
            ["precision_plan"] = plan.Describe(),
            ["mode"] = r.Mode,
            ["parameters"] = parameters,
            ["parts"] = graphs.Select(g => new Dictionary<string, object?>
            {
                ["name"] = g.Part.Name,
                ["file"] = g.Part.Name + ".onnx",
                ["image_size"] = g.Graph.Metadata.GetValueOrDefault("image_size"),
                ["precision"] = plan.Precision == DataType.Float32 ? g.Part.Request.ComputeType.ShortName() : plan.Precision.ShortName(),
                ["op_counts"] = PassManager.OpCounts(g.Graph),
                ["pass_summary"] = passes.TryGetValue(g.Part.Name, out var pr) ? pr.Summary().ToArray() : [],
                ["inputs"] = g.Graph.Inputs.Select(Describe).ToArray(),
                ["outputs"] = g.Graph.Outputs.Select(Describe).ToArray(),
            }).ToArray(),
            ["config"] = r.Config is { } c
                ? JsonSerializer.Deserialize<JsonElement>(c.GetRawText())
                : JsonSerializer.Deserialize<JsonElement>(r.Architecture.DefaultConfigJson),
            ["files"] = files,
        };
        // Where each hyperparameter came from (config.json field, original class default, --config, checkpoint keys).
        if (r.ConfigSources is { Count: > 0 } sources) manifest["config_sources"] = sources;
        if (r.Preprocessing is { } pre) manifest["preprocessing"] = pre;
        File.WriteAllText(path, JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static Dictionary<string, object> Describe(Value v) => new()
    {
        ["name"] = v.Name,
        ["dtype"] = v.DType.ShortName(),
        ["shape"] = v.Shape.Dims.Select(d => d.ToString()).ToArray(),
    };

    private static string Sha256(string file)
    {
        using var s = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
