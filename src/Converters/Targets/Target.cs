using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;

namespace ModelForge.Converters.Targets;

/// <summary>
/// What the precision plans of a target may be and how they are written. <paramref name="StronglyTyped"/>: the consumer
/// builds the types written in the graph and nothing else (TensorRT 11; `trtexec --stronglyTyped`), so every island
/// must be explicit Casts — which the precision rewriter always writes.
/// </summary>
public sealed record PrecisionRules(IReadOnlyList<DataType> Precisions, IReadOnlyList<string> Fp32Ops, bool StronglyTyped)
{
    /// <summary>The plan for a requested precision, or a GraphException naming what the target accepts.</summary>
    public PrecisionPlan Plan(DataType precision, IReadOnlyList<string>? keepFp32 = null, DataType? io = null)
    {
        if (!Precisions.Contains(precision))
            throw new GraphException(
                $"--precision {precision.ShortName()}: this target takes {string.Join(", ", Precisions.Select(p => p.ShortName()))}");
        return new PrecisionPlan { Precision = precision, Fp32Ops = Fp32Ops, KeepFp32 = keepFp32 ?? [], IoDType = io };
    }
}

/// <summary>
/// A deployment target as data: ONNX opset, the ONNX op types its consumer accepts (the exporter refuses to write any
/// other), the ordered pass pipeline, and precision rules. The exporter consults the target; no target-specific branches
/// elsewhere. <paramref name="TensorRtVersion"/> is the TensorRT version assumed ("10", "10.14", "11"), null for plain ONNX.
/// </summary>
public sealed record Target(
    string Name,
    int Opset,
    IReadOnlySet<string> AllowedOps,
    IReadOnlyList<string> Passes,
    PrecisionRules Precision,
    string? TensorRtVersion,
    string Description)
{
    /// <summary>Manifest form.</summary>
    public IReadOnlyDictionary<string, object?> Describe() => new Dictionary<string, object?>
    {
        ["name"] = Name,
        ["opset"] = Opset,
        ["tensorrt_version"] = TensorRtVersion,
        ["strongly_typed"] = Precision.StronglyTyped,
        ["passes"] = Passes.ToArray(),
        ["allowed_ops"] = AllowedOps.Order(StringComparer.Ordinal).ToArray(),
    };
}

/// <summary>The targets ModelForge knows.</summary>
public static class Targets
{
    /// <summary>Every ONNX op type the lowering (src/Converters/Onnx/OnnxLowering.cs) can write, at some opset.</summary>
    private static readonly string[] Emitted =
    [
        "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Sigmoid", "Erf", "Tanh", "Gelu", "Identity", "Cast", "MatMul", "Conv",
        "LayerNormalization", "Softmax", "Transpose", "Concat", "Slice", "Pad", "Reshape", "Expand", "Shape", "ReduceMean",
        "Gather", "Attention", "RMSNormalization",
    ];

    /// <summary>
    /// Of those, what the TensorRT 10.x ONNX parser supports (onnx-tensorrt docs/operators.md, release 10.1: all "Y", with
    /// Slice/Pad/ReduceMean axes as initializers, which the lowering writes). Deliberately no contrib-domain ops and none of
    /// the data-dependent or awkward shape ops (Einsum, Mod, NonZero, Range, Where, ...), which the lowering never emits.
    /// </summary>
    private static readonly string[] TensorRtParser =
    [
        "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Sigmoid", "Erf", "Tanh", "Gelu", "Identity", "Cast", "MatMul", "Conv",
        "LayerNormalization", "Softmax", "Transpose", "Concat", "Slice", "Pad", "Reshape", "Expand", "Shape", "ReduceMean", "Gather",
    ];

    /// <summary>
    /// `onnx`: ONNX Runtime friendly, opset 17 by default (17..23 allowed), every op of the opset, default passes; below
    /// opset 23 (no Attention op, so attention is written as MatMul/Softmax/MatMul) attention is also query-chunked, which
    /// keeps ONNX Runtime CPU from materializing SAM's [12, 4096, 4096] scores (chunk-attention, src/Graphs/Passes).
    /// </summary>
    public static Target Onnx(int opset = 17) => new(
        "onnx", opset, Emitted.ToHashSet(StringComparer.Ordinal), opset >= 23 ? PassRegistry.Default : PassRegistry.ChunkedAttention,
        new PrecisionRules([DataType.Float32, DataType.Float16, DataType.BFloat16], PrecisionPlan.DefaultFp32Ops, StronglyTyped: false),
        null, "ONNX for ONNX Runtime (CPU/CUDA) and other standard runtimes");

    /// <summary>
    /// `tensorrt`: what the TensorRT ONNX parser of the given version takes. 10.x before 10.14: opset 17, attention
    /// decomposed. 10.14+ (the parser gained the ONNX Attention op in the 10.14 GA parser update) and 11.x: opset 23 with
    /// Attention-23. RMSNormalization stays decomposed (not in the parser lists checked). TensorRT 11 is strongly typed.
    /// </summary>
    public static Target TensorRt(string version = "10")
    {
        var (major, minor) = ParseVersion(version);
        bool attention = major > 10 || (major == 10 && minor >= 14);
        var allowed = TensorRtParser.ToHashSet(StringComparer.Ordinal);
        if (attention) allowed.Add("Attention");
        return new Target(
            "tensorrt", attention ? 23 : 17, allowed, PassRegistry.Default,
            new PrecisionRules([DataType.Float32, DataType.Float16, DataType.BFloat16], PrecisionPlan.DefaultFp32Ops,
                StronglyTyped: major >= 11),
            version, $"ONNX for the TensorRT {version} ONNX parser (opset {(attention ? 23 : 17)}{(attention ? ", Attention-23" : "")})");
    }

    /// <summary>The target for a CLI name and its options.</summary>
    public static Target Get(string name, int? opset = null, string? trtVersion = null) => name.ToLowerInvariant() switch
    {
        "onnx" when trtVersion is not null => throw new GraphException("--trt-version applies to --target tensorrt only"),
        "onnx" => Onnx(opset ?? 17),
        "tensorrt" when opset is not null => throw new GraphException("--opset: the tensorrt target chooses its opset from --trt-version"),
        "tensorrt" => TensorRt(trtVersion ?? "10"),
        _ => throw new GraphException($"unknown target '{name}' (known: onnx, tensorrt)"),
    };

    private static (int Major, int Minor) ParseVersion(string v)
    {
        var parts = v.Split('.');
        if (parts.Length is < 1 or > 3 || !int.TryParse(parts[0], out int major) || (parts.Length > 1 && !int.TryParse(parts[1], out _)))
            throw new GraphException($"--trt-version {v}: expected 10, 10.N or 11");
        int minor = parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
        if (major is not (10 or 11)) throw new GraphException($"--trt-version {v}: TensorRT 10 and 11 are supported");
        return (major, minor);
    }
}
