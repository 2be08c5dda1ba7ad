using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Artifacts;

/// <summary>What to export: family, checkpoint, optional config document, input size, destination.</summary>
public sealed record ExportRequest(
    Architecture Architecture,
    string CheckpointPath,
    JsonElement? Config,
    BuildRequest Build,
    string OutDir,
    OnnxExportOptions Onnx,
    bool Force = false);

/// <summary>What an export wrote.</summary>
public sealed record ExportSummary(
    string OutDir,
    string ModelPath,
    string? ExternalDataPath,
    long TotalBytes,
    long Parameters,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs,
    int Nodes,
    TimeSpan Elapsed);

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
        progress?.Invoke($"building {r.Architecture.Name} graph");
        var graph = r.Architecture.Build(r.Config, r.Build);
        WeightBinder.Verify(graph, checkpoint, r.Architecture.Adapter);
        long parameters = graph.ParameterCount;
        graph.PruneUnused();
        var unsupported = OnnxExporter.Unsupported(graph, r.Onnx);
        if (unsupported.Count > 0)
            throw new ArtifactException($"the ONNX back-end cannot take {unsupported.Count} nodes: {string.Join(", ", unsupported.Take(10))}");

        using var staging = AtomicDirectory.Begin(r.OutDir, r.Force);
        progress?.Invoke("writing ONNX");
        var weights = new CheckpointWeights(checkpoint, r.Architecture.Adapter);
        var result = OnnxExporter.Export(graph, weights, Path.Combine(staging.Staging, "model.onnx"), r.Onnx);
        WriteManifest(Path.Combine(staging.Staging, "manifest.json"), r, graph, parameters, staging.Staging);
        staging.Commit();

        string Final(string p) => Path.Combine(staging.Destination, Path.GetFileName(p));
        long bytes = Directory.EnumerateFiles(staging.Destination).Sum(f => new FileInfo(f).Length);
        return new ExportSummary(staging.Destination, Final(result.ModelPath), result.ExternalDataPath is null ? null : Final(result.ExternalDataPath),
            bytes, parameters, graph.Inputs.Select(i => $"{i.Name} {i.Type}").ToArray(), graph.Outputs.Select(o => $"{o.Name} {o.Type}").ToArray(),
            graph.Nodes.Count, clock.Elapsed);
    }

    /// <summary>manifest.json: what the artifact is and how it was made; deterministic (no timestamps).</summary>
    private static void WriteManifest(string path, ExportRequest r, Graph graph, long parameters, string dir)
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
            ["image_size"] = graph.Metadata.GetValueOrDefault("image_size"),
            ["parameters"] = parameters,
            ["precision"] = r.Build.ComputeType.ShortName(),
            ["inputs"] = graph.Inputs.Select(Describe).ToArray(),
            ["outputs"] = graph.Outputs.Select(Describe).ToArray(),
            ["config"] = r.Config is { } c ? JsonSerializer.Deserialize<JsonElement>(c.GetRawText()) : JsonSerializer.Deserialize<JsonElement>(r.Architecture.DefaultConfigJson),
            ["metadata"] = new SortedDictionary<string, string>(graph.Metadata, StringComparer.Ordinal),
            ["files"] = files,
        };
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
