using System.Text.Json;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Bundles;

/// <summary>What a bundle asks for: the ONNX of these parts for a target (name) at a precision.</summary>
public sealed record BundleOnnxRequest(
    Architecture Architecture,
    string CheckpointPath,
    JsonElement? Config,
    IReadOnlyList<ArtifactPart> Parts,
    string? Mode,
    string Target,
    int TrtVersion,
    DataType Precision,
    long ExternalDataThreshold);

/// <summary>
/// What the ONNX of a bundle is: the artifact folder ExportPipeline wrote, the opset, and whether the precision plan is
/// inside the ONNX (cast nodes and typed tensors: TensorRT then builds strongly typed) or still only requested.
/// </summary>
public sealed record BundleOnnx(ExportSummary Summary, int Opset, bool PlanInOnnx, string OnnxComputeType, IReadOnlyList<string> Notes);

/// <summary>
/// The one place a bundle gets its ONNX from. The bundle code around it (manifest, profiles, trtexec plan, parity) does
/// not care how the graph was lowered: when the TensorRT target profile (opset per --trt-version, allowed ops, passes,
/// precision plan) is in ExportPipeline, this passes the target name and precision through and reports the plan as applied.
/// Until then it writes the plain ONNX export (opset 17, which every TensorRT 10.x parser takes; static spatial shapes,
/// dynamic batch/tile axes) in fp32 and says so in the manifest.
/// </summary>
public static class BundleOnnxSource
{
    public const string OnnxDir = "onnx";

    /// <summary>Writes the ONNX artifact folder into <paramref name="bundleDir"/>/onnx (itself a valid `--onnx` artifact).</summary>
    public static BundleOnnx Write(BundleOnnxRequest r, string bundleDir, Action<string>? progress = null)
    {
        const int opset = 17;
        var parts = r.Parts.Select(p => p with { Request = p.Request with { ComputeType = DataType.Float32 } }).ToArray();
        var request = new ExportRequest(r.Architecture, r.CheckpointPath, r.Config, parts, Path.Combine(bundleDir, OnnxDir),
            new OnnxExportOptions(opset, r.ExternalDataThreshold), Force: false, r.Mode);
        var summary = ExportPipeline.Run(request, progress);
        var notes = new List<string>();
        if (r.Precision != DataType.Float32)
            notes.Add($"precision plan not in the ONNX yet: the graph is fp32; {r.Precision.ShortName()} is requested of the TensorRT build "
                + (r.TrtVersion >= 11 ? "but TensorRT 11 builds strongly typed networks in the ONNX's types, so the engine would compute in fp32"
                    : "through the weakly typed builder flag (TensorRT 10 picks fp16/bf16 kernels where it sees fit)"));
        return new BundleOnnx(summary, opset, PlanInOnnx: false, OnnxComputeType: DataType.Float32.ShortName(), notes);
    }
}
