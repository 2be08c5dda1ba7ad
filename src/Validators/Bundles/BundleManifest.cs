using System.Text;
using System.Text.Json;
using ModelForge.Converters.Bundles;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Bundles;

/// <summary>manifest.json, build_plan.json, build_engine.sh and README.md of a bundle (all deterministic).</summary>
public static class BundleManifest
{
    /// <summary>Everything the manifest records.</summary>
    public sealed record Content(
        BundleRequest Request,
        DataType ReferencePrecision,
        BundleOnnx Onnx,
        TrtBuildSettings Settings,
        IReadOnlyDictionary<string, AxisRange> Profiles,
        IReadOnlyList<Dictionary<string, object?>> Parts,
        IReadOnlyList<TrtPartPlan> Plans,
        IReadOnlyList<Graph> Graphs,
        IReadOnlyDictionary<string, string> Tensors,
        string TensorDigest,
        string ParityInputs,
        IReadOnlyList<ParityFigure> Figures,
        EngineOutcome Engine,
        IReadOnlyList<ParityFigure> EngineFigures,
        string? EngineParityNote,
        IReadOnlyList<string> Notes);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static void WriteJson(string path, object value) =>
        File.WriteAllText(path, JsonSerializer.Serialize(value, Indented).ReplaceLineEndings("\n") + "\n");

    /// <summary>One part: its ONNX, inputs with dtypes, symbolic shapes and the min/opt/max shapes; outputs.</summary>
    public static Dictionary<string, object?> Part(ArtifactPart part, Graph graph, TrtPartPlan plan) => new()
    {
        ["name"] = part.Name,
        ["onnx"] = plan.Onnx,
        ["engine"] = plan.Engine,
        ["image_size"] = graph.Metadata.GetValueOrDefault("image_size"),
        // How validate --bundle rebuilds the reference graph of this part.
        ["build_request"] = new Dictionary<string, object?>
        {
            ["image_size"] = part.Request.ImageSize,
            ["batch_symbol"] = part.Request.BatchSymbol,
            ["tiles"] = part.Request.Tiles,
        },
        ["inputs"] = plan.Inputs.Select(i => new Dictionary<string, object?>
        {
            ["name"] = i.Name,
            ["dtype"] = i.DType,
            ["shape"] = i.Shape,
            ["min"] = i.Min,
            ["opt"] = i.Opt,
            ["max"] = i.Max,
        }).ToArray(),
        ["outputs"] = graph.Outputs.Select(o => new Dictionary<string, object?>
        {
            ["name"] = o.Name,
            ["dtype"] = o.DType.ShortName(),
            ["shape"] = o.Shape.Dims.Select(d => d.ToString()).ToArray(),
        }).ToArray(),
    };

    /// <summary>Writes build_plan.json, build_engine.sh, README.md and then manifest.json (which hashes all of them).</summary>
    public static void Write(string dir, Content c)
    {
        var r = c.Request;
        WriteJson(Path.Combine(dir, BundleExporter.BuildPlanName), new Dictionary<string, object?>
        {
            ["format"] = "modelforge-trt-build-plan/1",
            ["tensorrt_version"] = r.TrtVersion,
            ["strongly_typed"] = c.Settings.StronglyTyped,
            ["precision"] = r.Precision.ShortName(),
            ["engine_precision"] = c.Settings.EffectivePrecision,
            ["timing_cache"] = TrtBuildPlan.TimingCache,
            ["commands"] = c.Plans.Select(p => new Dictionary<string, object?>
            {
                ["part"] = p.Part,
                ["engine"] = p.Engine,
                ["argv"] = new[] { "trtexec" }.Concat(p.Arguments).ToArray(),
            }).ToArray(),
        });
        string script = Path.Combine(dir, BundleExporter.ScriptName);
        File.WriteAllText(script, TrtBuildPlan.Script(c.Plans, c.Settings));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(dir, BundleExporter.ReadmeName), Readme(c));

        var files = BundleFiles.List(dir);
        var manifest = new Dictionary<string, object?>
        {
            ["format"] = BundleFiles.Format,
            ["tool"] = new Dictionary<string, object?>
            {
                ["name"] = "modelforge", ["version"] = BuildInfo.Version, ["git_commit"] = BuildInfo.GitCommit,
            },
            ["architecture"] = r.Architecture.Name,
            ["target"] = "tensorrt",
            ["mode"] = r.Mode,
            ["tensorrt"] = new Dictionary<string, object?>
            {
                ["version_assumed"] = r.TrtVersion,
                ["opset"] = c.Onnx.Opset,
                ["strongly_typed"] = c.Settings.StronglyTyped,
                ["builder_optimization_level"] = c.Settings.BuilderOptimizationLevel,
                ["workspace_mib"] = c.Settings.WorkspaceMiB,
            },
            ["precision"] = new Dictionary<string, object?>
            {
                ["requested"] = r.Precision.ShortName(),
                ["onnx_compute_dtype"] = c.Onnx.OnnxComputeType,
                ["plan_in_onnx"] = c.Onnx.PlanInOnnx,
                ["engine_precision"] = c.Settings.EffectivePrecision,
                ["notes"] = c.Onnx.Notes,
            },
            ["profiles"] = c.Profiles.ToDictionary(p => p.Key,
                p => new Dictionary<string, long> { ["min"] = p.Value.Min, ["opt"] = p.Value.Opt, ["max"] = p.Value.Max }),
            ["parts"] = c.Parts,
            ["preprocessing"] = BundleDescriptions.Preprocessing(r.Architecture.Name, r.Mode, c.Graphs),
            ["token_layout"] = BundleDescriptions.TokenLayout(r.Architecture.Name, c.Graphs),
            ["config"] = JsonSerializer.Deserialize<JsonElement>(r.Config is { } cfg ? cfg.GetRawText() : r.Architecture.DefaultConfigJson),
            ["checkpoint"] = new Dictionary<string, object?>
            {
                ["file"] = Path.GetFileName(Path.GetFullPath(r.CheckpointPath).TrimEnd('/')),
                ["tensors_used"] = c.Tensors.Count,
                ["sha256"] = c.TensorDigest,
                ["sha256_rule"] = "SHA-256 over the lines \"NAME TENSOR_SHA256\\n\" of the tensors used, ordinal order of NAME",
                ["tensor_sha256"] = c.Tensors,
            },
            ["parity"] = new Dictionary<string, object?>
            {
                ["measured_at"] = "export",
                ["inputs"] = c.ParityInputs,
                ["onnx_runtime"] = "ONNX Runtime CPU execution provider",
                ["reference"] = BundleParity.ReferenceName("cpu", c.ReferencePrecision),
                ["engine_tolerance"] = Validators.Parity.Tolerance.For(r.Precision).ToString(),
                ["passed"] = c.Figures.Count == 0 ? null : c.Figures.All(f => f.Result.Passed),
                ["comparisons"] = c.Figures.Select(BundleParity.ToJson).ToArray(),
            },
            ["engine"] = new Dictionary<string, object?>
            {
                ["status"] = c.Engine.Status,
                ["message"] = c.Engine.Message,
                ["tensorrt_version"] = c.Engine.IsBuilt ? c.Engine.TensorRtVersion : null,
                ["compute_capability"] = c.Engine.ComputeCapability,
                ["how_to_build"] = $"bash {BundleExporter.ScriptName} on a machine with TensorRT {r.TrtVersion}.x and an NVIDIA GPU",
                ["parity"] = c.EngineFigures.Count == 0 ? null : new Dictionary<string, object?>
                {
                    ["counts_as_evidence"] = c.Engine.IsBuilt,
                    ["note"] = c.EngineParityNote,
                    ["comparisons"] = c.EngineFigures.Select(BundleParity.ToJson).ToArray(),
                },
            },
            ["notes"] = c.Notes,
            ["files"] = files.Select(f => new Dictionary<string, object> { ["name"] = f.Name, ["bytes"] = f.Bytes, ["sha256"] = f.Sha256 })
                .ToArray(),
        };
        WriteJson(Path.Combine(dir, BundleFiles.ManifestName), manifest);
    }

    private static string Readme(Content c)
    {
        var r = c.Request;
        var sb = new StringBuilder();
        sb.Append($"# ModelForge TensorRT bundle: {r.Architecture.Name}{(r.Mode is null ? "" : " mode " + r.Mode)}, " +
            $"{r.Precision.ShortName()}, TensorRT {r.TrtVersion}.x\n\n");
        sb.Append($"engine: {(c.Engine.IsBuilt ? $"built ({c.Engine.Message})" : "not built")}\n\n");
        if (!c.Engine.IsBuilt) sb.Append($"{c.Engine.Message}.\n\n");
        sb.Append("Contents:\n");
        sb.Append($"- `{BundleOnnxSource.OnnxDir}/`: the ONNX graph(s) (a ModelForge artifact folder; " +
            $"`modelforge run --onnx {BundleOnnxSource.OnnxDir}` runs it on ONNX Runtime)\n");
        sb.Append($"- `{BundleExporter.ScriptName}`: the exact trtexec command(s); `{BundleExporter.BuildPlanName}`: " +
            $"the same as argument lists\n");
        sb.Append("- `manifest.json`: inputs/outputs, optimization profiles, precision, preprocessing, token layout, " +
            "parity measured at export, ")
            .Append("SHA-256 of every file and of the checkpoint tensors\n\n");
        sb.Append("Profiles (min:opt:max): ")
            .Append(c.Profiles.Count == 0 ? "none (static shapes)" : string.Join(", ", c.Profiles.Select(p => $"{p.Key}={p.Value}")))
            .Append("\n\n");
        sb.Append($"Precision: requested {r.Precision.ShortName()}; the engine computes in {c.Settings.EffectivePrecision}.\n");
        foreach (var n in c.Onnx.Notes) sb.Append($"Note: {n}.\n");
        sb.Append('\n');
        if (c.Figures.Count > 0)
        {
            var worst = c.Figures.Where(f => f.Comparison == "onnx vs reference").MaxBy(f => f.Result.MaxAbs);
            sb.Append($"Parity at export ({c.ParityInputs}): {(c.Figures.All(f => f.Result.Passed) ? "passed" : "FAILED")}");
            if (worst is not null)
                sb.Append($"; ONNX Runtime CPU vs {BundleParity.ReferenceName("cpu", c.ReferencePrecision)} max abs " +
                    $"{BundleParity.ToJson(worst)["max_abs"]} ({worst.Tolerance})");
            sb.Append(".\n\n");
        }
        sb.Append("Check the bundle (hashes) with `modelforge inspect DIR`, and parity with `modelforge validate --bundle DIR " +
            "--checkpoint CKPT`.\n");
        return sb.ToString();
    }
}
