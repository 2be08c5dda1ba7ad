using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Artifacts;

/// <summary>
/// What to export: family, checkpoint, optional config document, the graphs (one "model" part, or a mode's parts such
/// as "global" + "local"), destination.
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
    IReadOnlyDictionary<string, string>? ConfigSources = null,
    JsonElement? Preprocessing = null);

/// <summary>What one part of an export wrote.</summary>
public sealed record ExportedPart(string Name, string ModelPath, string? ExternalDataPath, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, int Nodes);

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
        using var checkpoint = Checkpoint.Open(r.CheckpointPath);
        var adapter = r.Architecture.AdapterFor(r.Config);
        var graphs = new List<(ArtifactPart Part, Graph Graph)>();
        long parameters = 0;
        foreach (var part in r.Parts)
        {
            var graph = r.Architecture.Build(r.Config, part.Request);
            progress?.Invoke($"built {r.Architecture.Name} graph '{part.Name}' ({graph.Metadata.GetValueOrDefault("image_size", "?")} px, {graph.Nodes.Count} nodes)");
            WeightBinder.Verify(graph, checkpoint, adapter);
            parameters = Math.Max(parameters, graph.ParameterCount);
            graph.PruneUnused();
            var unsupported = OnnxExporter.Unsupported(graph, r.Onnx);
            if (unsupported.Count > 0)
                throw new ArtifactException($"the ONNX back-end cannot take {unsupported.Count} nodes of '{part.Name}': {string.Join(", ", unsupported.Take(10))}");
            graphs.Add((part, graph));
        }

        using var staging = AtomicDirectory.Begin(r.OutDir, r.Force);
        var weights = new CheckpointWeights(checkpoint, adapter);
        var written = new List<(ArtifactPart Part, Graph Graph, OnnxExportResult Result)>();
        foreach (var (part, graph) in graphs)
        {
            progress?.Invoke($"writing {part.Name}.onnx");
            written.Add((part, graph, OnnxExporter.Export(graph, weights, Path.Combine(staging.Staging, part.Name + ".onnx"), r.Onnx)));
        }
        WriteManifest(Path.Combine(staging.Staging, "manifest.json"), r, written.Select(w => (w.Part, w.Graph)).ToList(), parameters, staging.Staging);
        staging.Commit();

        string Final(string p) => Path.Combine(staging.Destination, Path.GetFileName(p));
        long bytes = Directory.EnumerateFiles(staging.Destination).Sum(f => new FileInfo(f).Length);
        var parts = written.Select(w => new ExportedPart(w.Part.Name, Final(w.Result.ModelPath), w.Result.ExternalDataPath is null ? null : Final(w.Result.ExternalDataPath),
            w.Graph.Inputs.Select(i => $"{i.Name} {i.Type}").ToArray(), w.Graph.Outputs.Select(o => $"{o.Name} {o.Type}").ToArray(), w.Graph.Nodes.Count)).ToArray();
        return new ExportSummary(staging.Destination, parts, bytes, parameters, clock.Elapsed);
    }

    /// <summary>manifest.json: what the artifact is and how it was made; deterministic (no timestamps).</summary>
    private static void WriteManifest(string path, ExportRequest r, IReadOnlyList<(ArtifactPart Part, Graph Graph)> graphs, long parameters, string dir)
    {
        var files = Directory.EnumerateFiles(dir).Where(f => Path.GetFileName(f) != "manifest.json").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new Dictionary<string, object> { ["name"] = Path.GetFileName(f), ["bytes"] = new FileInfo(f).Length, ["sha256"] = Sha256(f) })
            .ToArray();
        var manifest = new Dictionary<string, object?>
        {
            ["format"] = "modelforge-artifact/1",
            ["architecture"] = r.Architecture.Name,
            ["target"] = "onnx",
            ["opset"] = r.Onnx.Opset,
            ["mode"] = r.Mode,
            ["parameters"] = parameters,
            ["parts"] = graphs.Select(g => new Dictionary<string, object?>
            {
                ["name"] = g.Part.Name,
                ["file"] = g.Part.Name + ".onnx",
                ["image_size"] = g.Graph.Metadata.GetValueOrDefault("image_size"),
                ["precision"] = g.Part.Request.ComputeType.ShortName(),
                ["inputs"] = g.Graph.Inputs.Select(Describe).ToArray(),
                ["outputs"] = g.Graph.Outputs.Select(Describe).ToArray(),
            }).ToArray(),
            ["config"] = r.Config is { } c ? JsonSerializer.Deserialize<JsonElement>(c.GetRawText()) : JsonSerializer.Deserialize<JsonElement>(r.Architecture.DefaultConfigJson),
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
