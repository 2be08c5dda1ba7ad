using System.Globalization;

namespace ModelForge.Converters.Bundles;

/// <summary>One dynamic axis of a TensorRT optimization profile: the smallest, the tuned-for and the largest value.</summary>
public sealed record AxisRange(long Min, long Opt, long Max)
{
    public override string ToString() => $"{Min}:{Opt}:{Max}";

    /// <summary>The value of this range at a profile point ("min", "opt", "max").</summary>
    public long At(string point) => point switch
    {
        "min" => Min,
        "opt" => Opt,
        "max" => Max,
        _ => throw new ArgumentException($"profile point '{point}': expected min, opt or max"),
    };
}

/// <summary>
/// Optimization-profile ranges of the dynamic axes of a bundle (by axis symbol: "B" batch, "T" Gundam tiles), parsed
/// from `--profile B=1:4:16` and defaulted per axis: batch 1:1:8 (one image at a time is the common serving shape, 8 a
/// typical micro-batch), tiles 2:6:9 (DeepSeek-OCR's tiling rule yields 2..9 tiles; 6 = the common 2x3 page grid).
/// </summary>
public static class TrtProfiles
{
    /// <summary>Default range of an axis by its symbol.</summary>
    public static AxisRange Default(string symbol) => symbol == "T" ? new AxisRange(2, 6, 9) : new AxisRange(1, 1, 8);

    /// <summary>Upper bound of any axis (a profile is a promise the engine keeps memory for).</summary>
    public const long MaxExtent = 4096;

    /// <summary>Parses `AXIS=MIN:OPT:MAX` (several --profile options allowed); ArgumentException with one line otherwise.</summary>
    public static IReadOnlyDictionary<string, AxisRange> Parse(IEnumerable<string> specs)
    {
        var result = new Dictionary<string, AxisRange>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            string[] kv = spec.Split('=', 2);
            string[] parts = kv.Length == 2 ? kv[1].Split(':') : [];
            if (kv.Length != 2 || kv[0].Length == 0 || parts.Length != 3)
                throw new ArgumentException($"--profile {spec}: expected AXIS=MIN:OPT:MAX, e.g. B=1:4:16");
            var n = new long[3];
            for (int i = 0; i < 3; i++)
                if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out n[i]) || n[i] < 1 || n[i] > MaxExtent)
                    throw new ArgumentException($"--profile {spec}: '{parts[i]}' is not a whole number in 1..{MaxExtent}");
            if (!(n[0] <= n[1] && n[1] <= n[2]))
                throw new ArgumentException($"--profile {spec}: needs MIN <= OPT <= MAX");
            if (!result.TryAdd(kv[0], new AxisRange(n[0], n[1], n[2])))
                throw new ArgumentException($"--profile {spec}: axis {kv[0]} given twice");
        }
        return result;
    }

    /// <summary>
    /// The ranges for the axes a bundle has: given ones where named, defaults otherwise. A given axis the bundle does not
    /// have is a mistake (a typo would otherwise silently build the default profile).
    /// </summary>
    public static IReadOnlyDictionary<string, AxisRange> Resolve(IReadOnlyDictionary<string, AxisRange> given,
        IReadOnlyCollection<string> axes)
    {
        foreach (var name in given.Keys.Where(k => !axes.Contains(k)))
            throw new ArgumentException(
                $"--profile {name}=...: the bundle has no dynamic axis '{name}' (its axes: " +
                $"{(axes.Count == 0 ? "none" : string.Join(", ", axes))})");
        return axes.Order(StringComparer.Ordinal)
            .ToDictionary(a => a, a => given.TryGetValue(a, out var r) ? r : Default(a), StringComparer.Ordinal);
    }
}
