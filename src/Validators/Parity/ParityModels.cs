using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>The two ways a graph is evaluated: eagerly with TorchSharp (reference) or as the exported artifact.</summary>
public enum ValidationPath
{
    Reference,
    Exported,
}

/// <summary>One comparison of one output (or trace) of one case.</summary>
/// <param name="Case">The case name.</param>
/// <param name="Output">The output name, or "trace.NAME".</param>
/// <param name="Comparison">"exported vs golden", "reference vs golden", "exported vs reference", or "X vs fp64".</param>
/// <param name="Result">The metrics and the verdict under the tolerance.</param>
/// <param name="Waived">
/// Why a failed comparison does not fail the run: with the fp64 arbiter, a path that is within tolerance of the float64
/// result while the golden is not ("the golden is the outlier"). Null for every passing or still-failing comparison.
/// </param>
/// <param name="Informational">Reported but never decides the verdict (the "X vs fp64" rows of the arbiter).</param>
public sealed record OutputReport(string Case, string Output, string Comparison, ComparisonResult Result, string? Waived = null,
    bool Informational = false)
{
    /// <summary>Counts as passed: within tolerance, waived, or informational.</summary>
    public bool Ok => Result.Passed || Waived is not null || Informational;
}

/// <summary>
/// The fp64 arbiter's verdict on one output of one case: each path's max abs distance from the float64 evaluation of the
/// same graph and weights, the path nearest that exact answer, and the outlier (a path more than 4x farther than every
/// other path, and more than 1e-6 away), if any.
/// </summary>
public sealed record ArbiterVerdict(string Case, string Output, IReadOnlyDictionary<string, double> MaxAbsFromFp64,
    IReadOnlyDictionary<string, double> MeanAbsFromFp64, string Nearest, string? Outlier);

/// <summary>The results of one case: outputs per comparison, and where each comparison first left tolerance.</summary>
public sealed record CaseReport(
    string Case,
    IReadOnlyList<OutputReport> Outputs,
    IReadOnlyDictionary<string, string> FirstDivergence,
    IReadOnlyDictionary<string, double> Seconds,
    string? Skipped = null,
    IReadOnlyList<ArbiterVerdict>? Arbiter = null,
    IReadOnlyList<string>? Notes = null)
{
    /// <summary>A case that ran passes only if something was compared: zero comparisons is not parity.</summary>
    public bool Passed => Skipped is not null || (Outputs.Count(o => !o.Informational) > 0 && Outputs.All(o => o.Ok));
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

    /// <summary>Why nothing was compared (every case skipped, or no output to compare), or null when something was.</summary>
    public string? NothingCompared => AllOutputs.Any(o => !o.Informational) ? null
        : Cases.Count == 0 ? "the fixture has no cases"
        : string.Join("; ", Cases.Select(c => $"{c.Case}: {c.Skipped ?? "no output to compare"}"));

    public IEnumerable<OutputReport> AllOutputs => Cases.SelectMany(c => c.Outputs);
}

/// <summary>Options of a validation run.</summary>
public sealed record ValidationOptions
{
    public IReadOnlySet<ValidationPath> Paths { get; init; } =
        new HashSet<ValidationPath> { ValidationPath.Reference, ValidationPath.Exported };

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

    /// <summary>The parts of an artifact folder to validate as the exported path (each case runs on the part its inputs fit).</summary>
    public IReadOnlyList<string>? ExportedModels { get; init; }

    /// <summary>Per-output tolerances from the command line (win over everything else).</summary>
    public IReadOnlyDictionary<string, ToleranceOverride> OutputTolerances { get; init; } = new Dictionary<string, ToleranceOverride>();

    /// <summary>What must stay under tolerance: every element (default), or a statistic of the errors.</summary>
    public ErrorStat ErrorStat { get; init; } = ErrorStat.Elementwise;

    /// <summary>Also evaluate the graph in float64 (TorchSharp) and measure every path against it.</summary>
    public bool Arbiter { get; init; }

    /// <summary>Keep each case's inputs and each path's outputs (for --save-inputs / --save-outputs).</summary>
    public bool CaptureTensors { get; init; }

    /// <summary>The exported models to try, in order (null: export afresh).</summary>
    public IReadOnlyList<string>? ExportedParts => ExportedModels ?? (ExportedModel is null ? null : [ExportedModel]);

    public Tolerance ToleranceFor(DataType precision)
    {
        var t = Tolerance.For(precision);
        return new Tolerance(Atol ?? t.Atol, Rtol ?? t.Rtol);
    }

    /// <summary>
    /// The tolerance of one output: the precision's default, then the fixture's per-output entry (fp32 comparisons only:
    /// a fixture's numbers are written for fp32 paths), then --atol/--rtol, then per-output values from the command line.
    /// </summary>
    public Tolerance ToleranceFor(DataType precision, string output, IReadOnlyDictionary<string, ToleranceOverride>? fixture)
    {
        var t = Tolerance.For(precision);
        if (precision == DataType.Float32 && fixture is not null && fixture.TryGetValue(output, out var f)) t = f.Apply(t);
        t = new Tolerance(Atol ?? t.Atol, Rtol ?? t.Rtol);
        return OutputTolerances.TryGetValue(output, out var o) ? o.Apply(t) : t;
    }
}
