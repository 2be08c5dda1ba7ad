using System.Text.Json;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;

namespace ModelForge.Converters.Bundles;

/// <summary>What a bundle asks for: the ONNX of these parts for a target (name) at a precision.</summary>
public sealed record BundleOnnxRequest(
    Architecture Architecture,
    string CheckpointPath,
    JsonElement? Config,
    IReadOnlyList<ArtifactPart> Parts,
    string? Mode,
    Target Target,
    PrecisionPlan Plan,
    IReadOnlyList<string>? Passes,
    long ExternalDataThreshold);

/// <summary>
/// What the ONNX of a bundle is: the artifact folder ExportPipeline wrote, the opset, and whether the precision plan is
/// inside the ONNX (cast nodes and typed tensors: TensorRT then builds strongly typed) or still only requested.
/// </summary>
public sealed record BundleOnnx(ExportSummary Summary, int Opset, bool PlanInOnnx, string OnnxComputeType, IReadOnlyList<string> Notes);

/// <summary>
/// The one place a bundle gets its ONNX from. The bundle code around it (manifest, profiles, trtexec plan, parity) does
/// not care how the graph was lowered: ExportPipeline runs the TensorRT target (opset per --trt-version, allowed ops,
/// passes) and applies the precision plan; static spatial shapes, dynamic batch/tile axes.
/// </summary>
public static class BundleOnnxSource
{
    public const string OnnxDir = "onnx";

    /// <summary>Writes the ONNX artifact folder into <paramref name="bundleDir"/>/onnx (itself a valid `--onnx` artifact).</summary>
    public static BundleOnnx Write(BundleOnnxRequest r, string bundleDir, Action<string>? progress = null)
    {
        // The target's passes, allowed ops (anything else is refused) and opset, and the precision plan written into the graph
        // as typed tensors and Casts: what TensorRT then builds strongly typed.
        var request = new ExportRequest(r.Architecture, r.CheckpointPath, r.Config, r.Parts, Path.Combine(bundleDir, OnnxDir),
            new OnnxExportOptions(r.Target.Opset, r.ExternalDataThreshold), Force: false, r.Mode, r.Target, r.Plan, r.Passes);
        var summary = ExportPipeline.Run(request, progress);
        return new BundleOnnx(summary, r.Target.Opset, PlanInOnnx: true, OnnxComputeType: r.Plan.Precision.ShortName(), []);
    }
}
