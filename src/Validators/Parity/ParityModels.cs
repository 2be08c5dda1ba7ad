using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>The two ways a graph is evaluated: eagerly with TorchSharp (reference) or as the exported artifact.</summary>
public enum ValidationPath
{
    Reference,
    Exported,
}

/// <summary>One comparison of one output (or trace) of one case.</summary>
public sealed record OutputReport(string Case, string Output, string Comparison, ComparisonResult Result);

/// <summary>The results of one case: outputs per comparison, and where each comparison first left tolerance.</summary>
public sealed record CaseReport(
    string Case,
    IReadOnlyList<OutputReport> Outputs,
    IReadOnlyDictionary<string, string> FirstDivergence,
    IReadOnlyDictionary<string, double> Seconds,
    string? Skipped = null)
{
    /// <summary>A case that ran passes only if something was compared: zero comparisons is not parity.</summary>
    public bool Passed => Skipped is not null || (Outputs.Count > 0 && Outputs.All(o => o.Result.Passed));
}

/// <summary>A whole validation run (a fixture, or random-input parity of a checkpoint).</summary>
public sealed record ValidationReport(
    string Subject,
    string Architecture,
    string Device,
    string Precision,
    IReadOnlyDictionary<string, string> Tolerances,
    IReadOnlyList<CaseReport> Cases)
{
    public bool Passed => Cases.Any(c => c.Skipped is null) && Cases.All(c => c.Passed);

    public IEnumerable<OutputReport> AllOutputs => Cases.SelectMany(c => c.Outputs);
}

/// <summary>Options of a validation run.</summary>
public sealed record ValidationOptions
{
    public IReadOnlySet<ValidationPath> Paths { get; init; } = new HashSet<ValidationPath> { ValidationPath.Reference, ValidationPath.Exported };

    public string Device { get; init; } = "cpu";

    /// <summary>Precision of the reference path (the exported path is fp32 ONNX on ONNX Runtime).</summary>
    public DataType Precision { get; init; } = DataType.Float32;

    /// <summary>Overrides of the default tolerances (null = per-precision default).</summary>
    public double? Atol { get; init; }

    public double? Rtol { get; init; }

    public int Opset { get; init; } = 17;

    /// <summary>An existing ONNX artifact to validate as the exported path, instead of exporting afresh.</summary>
    public string? ExportedModel { get; init; }

    /// <summary>ONNX Runtime session settings of the exported path (execution provider, device id).</summary>
    public Onnx.OrtRunnerOptions? Ort { get; init; }

    /// <summary>
    /// Precision plan of <see cref="ExportedModel"/> (its "precision" metadata): an f16/bf16 artifact is compared with that
    /// precision's tolerance, and on its outputs only (its intermediates carry the plan's types, not the reference's).
    /// </summary>
    public DataType ExportedPrecision { get; init; } = DataType.Float32;

    /// <summary>Compare golden trace tensors (intermediates) too, to name the first divergent block.</summary>
    public bool Traces { get; init; } = true;

    public Tolerance ToleranceFor(DataType precision)
    {
        var t = Tolerance.For(precision);
        return new Tolerance(Atol ?? t.Atol, Rtol ?? t.Rtol);
    }
}
