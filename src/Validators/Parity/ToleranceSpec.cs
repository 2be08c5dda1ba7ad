using System.Globalization;
using System.Text.Json;

namespace ModelForge.Validators.Parity;

/// <summary>Which error statistic must stay under tolerance (Polygraphy's --check-error-stat).</summary>
public enum ErrorStatKind
{
    /// <summary>Every element: |a - b| &lt;= atol + rtol * |b| (numpy.allclose). The default.</summary>
    Elementwise,
    Max,
    Mean,
    Median,
    Quantile,
}

/// <summary>
/// The error statistic checked. For every kind but elementwise, as Polygraphy does: the tensor fails only when BOTH the
/// statistic of |a - b| exceeds atol AND the statistic of |a - b| / |b| exceeds rtol.
/// </summary>
public sealed record ErrorStat(ErrorStatKind Kind, double Q = 0.99)
{
    public static ErrorStat Elementwise { get; } = new(ErrorStatKind.Elementwise);

    /// <summary>elementwise | max | mean | median | quantile:Q (0 &lt;= Q &lt;= 1).</summary>
    public static ErrorStat Parse(string s)
    {
        string t = s.Trim().ToLowerInvariant();
        if (t.StartsWith("quantile", StringComparison.Ordinal))
        {
            string q = t.Length > "quantile".Length && t["quantile".Length] == ':' ? t["quantile:".Length..] : "";
            if (!double.TryParse(q, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v is < 0 or > 1)
                throw new ArgumentException($"--check-error-stat {s}: give quantile:Q with Q between 0 and 1 (e.g. quantile:0.99)");
            return new ErrorStat(ErrorStatKind.Quantile, v);
        }
        return t switch
        {
            "elementwise" => Elementwise,
            "max" => new ErrorStat(ErrorStatKind.Max),
            "mean" => new ErrorStat(ErrorStatKind.Mean),
            "median" => new ErrorStat(ErrorStatKind.Median),
            _ => throw new ArgumentException($"--check-error-stat {s}: expected elementwise, max, mean, median or quantile:Q"),
        };
    }

    public override string ToString() => Kind == ErrorStatKind.Quantile
        ? $"quantile:{Q.ToString(CultureInfo.InvariantCulture)}" : Kind.ToString().ToLowerInvariant();
}

/// <summary>A per-output tolerance override; a null field keeps the default (per precision, or --atol/--rtol).</summary>
public sealed record ToleranceOverride(double? Atol, double? Rtol)
{
    public Tolerance Apply(Tolerance t) => new(Atol ?? t.Atol, Rtol ?? t.Rtol);

    /// <summary>
    /// fixture.json's optional <c>"tolerances": {"output": {"atol": 1e-4, "rtol": 1e-4}, ...}</c> (output names as in the
    /// report; traces as "trace.NAME"). Empty when absent; <see cref="ArgumentException"/> naming the file when malformed.
    /// </summary>
    public static IReadOnlyDictionary<string, ToleranceOverride> FromFixture(JsonElement root, string source)
    {
        var result = new Dictionary<string, ToleranceOverride>(StringComparer.Ordinal);
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("tolerances", out var t)) return result;
        if (t.ValueKind != JsonValueKind.Object) throw new ArgumentException(
            $"{source}: \"tolerances\" must be an object of output -> {{atol, rtol}}");
        foreach (var p in t.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Object) throw new ArgumentException(
                $"{source}: tolerances.{p.Name} must be an object {{\"atol\": .., \"rtol\": ..}}");
            double? Read(string key)
            {
                if (!p.Value.TryGetProperty(key, out var v)) return null;
                return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d >= 0 && double.IsFinite(d) ? d
                    : throw new ArgumentException($"{source}: tolerances.{p.Name}.{key} must be a finite number >= 0");
            }
            foreach (var k in p.Value.EnumerateObject())
                if (k.Name is not ("atol" or "rtol"))
                    throw new ArgumentException($"{source}: tolerances.{p.Name}.{k.Name}: only atol and rtol are known");
            result[p.Name] = new ToleranceOverride(Read("atol"), Read("rtol"));
        }
        return result;
    }
}
