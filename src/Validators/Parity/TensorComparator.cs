using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>Elementwise tolerance as in numpy.allclose: |actual - expected| &lt;= Atol + Rtol * |expected|.</summary>
public sealed record Tolerance(double Atol, double Rtol)
{
    /// <summary>fp32 against fp32 references: both paths compute the same math, ordering differences only.</summary>
    public static Tolerance Fp32 { get; } = new(1e-4, 1e-4);

    /// <summary>fp16 (10-bit mantissa, ~1e-3 per op, accumulating over depth): relative, with an absolute floor.</summary>
    public static Tolerance Fp16 { get; } = new(2e-2, 2e-2);

    /// <summary>bf16 (7-bit mantissa, ~8e-3 per op): looser still.</summary>
    public static Tolerance Bf16 { get; } = new(8e-2, 8e-2);

    public static Tolerance For(DataType precision) => precision switch
    {
        DataType.Float16 => Fp16,
        DataType.BFloat16 => Bf16,
        _ => Fp32,
    };

    public override string ToString() => $"atol {Atol:G3} + rtol {Rtol:G3}";
}

/// <summary>How far one tensor is from its reference.</summary>
public sealed record ComparisonResult(
    string Name,
    bool Passed,
    string? Failure,
    long Elements,
    double MaxAbs,
    double MaxRel,
    double MeanAbs,
    double Cosine,
    double Nmse,
    double OutOfToleranceShare,
    long WorstIndex)
{
    public static ComparisonResult Fail(string name, string why) =>
        new(name, false, why, 0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 1, -1);
}

/// <summary>Compares an actual tensor to an expected one; NaN/Inf, empty tensors and shape mismatches always fail.</summary>
public static class TensorComparator
{
    public static ComparisonResult Compare(string name, HostTensor actual, HostTensor expected, Tolerance tol) =>
        Compare(name, actual, expected, tol, ErrorStat.Elementwise);

    /// <summary>
    /// As above, with the pass rule given by <paramref name="stat"/>: elementwise (allclose), or a statistic of the
    /// absolute and relative errors (see <see cref="ErrorStat"/>). NaN/Inf and shape mismatches fail under every rule.
    /// </summary>
    public static ComparisonResult Compare(string name, HostTensor actual, HostTensor expected, Tolerance tol, ErrorStat stat)
    {
        if (!actual.Shape.AsSpan().SequenceEqual(expected.Shape))
            return ComparisonResult.Fail(name, $"shape {actual.ShapeText} differs from expected {expected.ShapeText}");
        if (actual.ElementCount == 0) return ComparisonResult.Fail(name, "empty tensor");
        if (actual.Floats is null || expected.Floats is null) return ComparisonResult.Fail(name, "not a floating-point tensor");
        var a = actual.Floats;
        var e = expected.Floats;
        double maxAbs = 0, maxRel = 0, sumAbs = 0, dot = 0, na = 0, ne = 0, se = 0;
        long bad = 0, worst = 0, nonFiniteActual = 0, nonFiniteExpected = 0;
        for (long i = 0; i < a.LongLength; i++)
        {
            double x = a[i], y = e[i];
            if (!double.IsFinite(x)) { nonFiniteActual++; continue; }
            if (!double.IsFinite(y)) { nonFiniteExpected++; continue; }
            double d = Math.Abs(x - y);
            if (d > maxAbs) { maxAbs = d; worst = i; }
            double rel = d / Math.Max(Math.Abs(y), 1e-12);
            if (d > 0 && rel > maxRel) maxRel = rel;
            if (d > tol.Atol + tol.Rtol * Math.Abs(y)) bad++;
            sumAbs += d;
            dot += x * y;
            na += x * x;
            ne += y * y;
            se += (x - y) * (x - y);
        }
        long n = a.LongLength;
        double cosine = na == 0 && ne == 0 ? 1 : dot / Math.Sqrt(na * ne);
        double nmse = ne == 0 ? (se == 0 ? 0 : double.PositiveInfinity) : se / ne;
        string? statFailure = stat.Kind == ErrorStatKind.Elementwise || nonFiniteActual + nonFiniteExpected > 0
            ? null
            : StatFailure(a, e, tol, stat);
        string? failure = nonFiniteActual > 0 ? $"{nonFiniteActual} NaN/Inf values"
            : nonFiniteExpected > 0 ? $"{nonFiniteExpected} NaN/Inf values in the reference"
            : stat.Kind != ErrorStatKind.Elementwise ? statFailure
            : bad > 0 ? $"{bad} of {n} elements out of tolerance ({tol})" : null;
        return new ComparisonResult(name, failure is null, failure, n, maxAbs, maxRel, sumAbs / n, cosine, nmse,
            (bad + nonFiniteActual + nonFiniteExpected) / (double)n, worst);
    }

    /// <summary>
    /// Fails (returns why) when stat(|a-b|) &gt; atol AND stat(|a-b|/|b|) &gt; rtol, as Polygraphy's non-elementwise checks.
    /// </summary>
    private static string? StatFailure(float[] a, float[] e, Tolerance tol, ErrorStat stat)
    {
        var abs = new double[a.LongLength];
        var rel = new double[a.LongLength];
        for (long i = 0; i < a.LongLength; i++)
        {
            abs[i] = Math.Abs((double)a[i] - e[i]);
            rel[i] = abs[i] / Math.Max(Math.Abs((double)e[i]), 1e-12);
        }
        double sa = Statistic(abs, stat), sr = Statistic(rel, stat);
        if (sa <= tol.Atol || sr <= tol.Rtol) return null;
        string Fmt(double v) => v.ToString("G3", System.Globalization.CultureInfo.InvariantCulture);
        return $"{stat} abs error {Fmt(sa)} > atol {Fmt(tol.Atol)} and {stat} rel error {Fmt(sr)} > rtol {Fmt(tol.Rtol)}";
    }

    private static double Statistic(double[] v, ErrorStat stat)
    {
        switch (stat.Kind)
        {
            case ErrorStatKind.Max:
                return v.Max();
            case ErrorStatKind.Mean:
                return v.Average();
            case ErrorStatKind.Median:
                return Quantile(v, 0.5);
            case ErrorStatKind.Quantile:
                return Quantile(v, stat.Q);
            case ErrorStatKind.Elementwise:
            default:
                throw new ArgumentOutOfRangeException(nameof(stat), stat, "not a statistic");
        }
    }

    /// <summary>Linear-interpolated quantile (numpy's default method) of a copy of <paramref name="v"/>.</summary>
    public static double Quantile(double[] v, double q)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        double pos = q * (s.Length - 1);
        long lo = (long)Math.Floor(pos), hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}
