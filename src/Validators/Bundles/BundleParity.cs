using System.Globalization;
using ModelForge.Converters.Bundles;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;

namespace ModelForge.Validators.Bundles;

/// <summary>One input set of a part: golden case inputs (with the original's outputs) or seeded random tensors.</summary>
public sealed record PartCase(string Name, IReadOnlyDictionary<string, HostTensor> Inputs, IReadOnlyDictionary<string, HostTensor> Golden)
{
    /// <summary>Turns a run's outputs into the form the goldens have (the family's CombineCalls, e.g. Qwen's unbatched rows).</summary>
    public Func<IReadOnlyDictionary<string, HostTensor>, IReadOnlyDictionary<string, HostTensor>> ToGoldenForm { get; init; } = r => r;
}

/// <summary>One measured comparison of a bundle (ONNX or engine against the reference or the goldens).</summary>
public sealed record ParityFigure(string Part, string Case, string Output, string Comparison, Tolerance Tolerance, ComparisonResult Result);

/// <summary>
/// Parity of a bundle's graphs: the bundle's ONNX on ONNX Runtime against the TorchSharp reference (at the requested
/// precision) and against goldens when the export came from a golden fixture. Inputs: the fixture's cases that fit the
/// part's static shapes, else seeded uniform [-1, 1] tensors at a profile point (default opt) of every dynamic axis.
/// </summary>
public static class BundleParity
{
    /// <summary>Seeded random inputs with every dynamic axis at <paramref name="point"/> of its profile range.</summary>
    public static PartCase Random(Graph graph, IReadOnlyDictionary<string, AxisRange> profiles, string point, int seed)
    {
        var rng = new System.Random(seed);
        var bindings = graph.Symbols.ToDictionary(s => s, s => profiles.TryGetValue(s, out var r) ? r.At(point) : 1L);
        var inputs = graph.Inputs.ToDictionary(i => i.Name, i =>
        {
            var shape = i.Shape.Evaluate(bindings);
            var data = new float[shape.Aggregate(1L, (a, d) => checked(a * d))];
            for (long k = 0; k < data.LongLength; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(shape, data);
        });
        string at = string.Join(",", bindings.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => $"{b.Key}={b.Value}"));
        return new PartCase($"random seed {seed} at {point} ({(at.Length == 0 ? "static" : at)})", inputs,
            new Dictionary<string, HostTensor>());
    }

    /// <summary>The golden cases of <paramref name="fixture"/> whose inputs fit <paramref name="graph"/>'s static dims.</summary>
    public static IReadOnlyList<PartCase> Golden(GoldenFixture fixture, Graph graph)
    {
        var result = new List<PartCase>();
        foreach (var c in fixture.Cases)
        {
            // The family plans the graph calls of a case (Qwen: one per image or video); goldens of a case that takes several
            // calls are of their joined result, which one part's run does not produce: only one-call cases are compared.
            var calls = fixture.Architecture.PlanCalls(fixture.Config, c.Inputs);
            if (calls.Count != 1) continue;
            var inputs = calls[0];
            bool fits = graph.Inputs.All(i => inputs.TryGetValue(i.Name, out var t) && t.Shape.Length == i.Shape.Rank
                && i.Shape.Dims.Select((d, k) => d.Symbol is not null || d.Factor == t.Shape[k]).All(ok => ok));
            // A case with inputs this part does not take (DeepEncoder V2's images_crop: a one-image case of the whole
            // model) has goldens of another graph: skipped, as validate --onnx skips it.
            if (!fits || inputs.Keys.Any(k => graph.Inputs.All(i => i.Name != k))) continue;
            bool outputs = graph.Outputs.Any(o => c.Outputs.ContainsKey(o.Name));
            if (outputs)
                result.Add(new PartCase($"golden {c.Name}", inputs, c.Outputs)
                {
                    ToGoldenForm = r => fixture.Architecture.CombineCalls(fixture.Config, [r]),
                });
        }
        return result;
    }

    /// <summary>
    /// Runs each case on the ONNX (ONNX Runtime, <paramref name="ort"/>) and the reference, compares them; returns the
    /// figures and the reference outputs (for the engine's comparison).
    /// </summary>
    public static (List<ParityFigure> Figures, Dictionary<string, IReadOnlyDictionary<string, HostTensor>> Reference) Run(
        string part, Graph graph, IWeightSource weights, string onnxPath, IReadOnlyList<PartCase> cases, DataType precision,
        DataType onnxPrecision, string device, OrtRunnerOptions? ort = null, double? atol = null, double? rtol = null)
    {
        Tolerance Tol(DataType p) => Tolerance.For(p) is var t ? new Tolerance(atol ?? t.Atol, rtol ?? t.Rtol) : t;
        var figures = new List<ParityFigure>();
        var references = new Dictionary<string, IReadOnlyDictionary<string, HostTensor>>();
        var names = graph.Outputs.Select(o => o.Name).ToArray();
        using var runner = new OrtRunner(onnxPath, ort);
        using var evaluator = new TorchEvaluator(graph, weights,
            new TorchEvalOptions(device, precision == DataType.Float32 ? null : precision));
        foreach (var c in cases)
        {
            var exported = runner.Run(c.Inputs, names);
            var reference = evaluator.Run(c.Inputs);
            references[c.Name] = reference;
            foreach (var o in names)
            {
                figures.Add(Compare(part, c.Name, o, "onnx vs reference", exported, reference, Tol(precision)));
                if (c.Golden.ContainsKey(o))
                {
                    figures.Add(Compare(part, c.Name, o, "onnx vs golden", c.ToGoldenForm(exported), c.Golden, Tol(onnxPrecision)));
                    figures.Add(Compare(part, c.Name, o, "reference vs golden", c.ToGoldenForm(reference), c.Golden, Tol(precision)));
                }
            }
        }
        return (figures, references);
    }

    /// <summary>Compares output <paramref name="name"/> of <paramref name="actual"/> with <paramref name="expected"/>.</summary>
    public static ParityFigure Compare(string part, string caseName, string name, string comparison,
        IReadOnlyDictionary<string, HostTensor> actual, IReadOnlyDictionary<string, HostTensor> expected, Tolerance tol) =>
        new(part, caseName, name, comparison, tol, actual.TryGetValue(name, out var a) && expected.TryGetValue(name, out var e)
            ? TensorComparator.Compare(name, a, e, tol)
            : ComparisonResult.Fail(name, "output missing"));

    /// <summary>A figure as manifest/report JSON; numbers rounded to 3 significant digits (stable across re-exports).</summary>
    public static Dictionary<string, object?> ToJson(ParityFigure f) => new()
    {
        ["part"] = f.Part,
        ["case"] = f.Case,
        ["output"] = f.Output,
        ["comparison"] = f.Comparison,
        ["max_abs"] = Round(f.Result.MaxAbs),
        ["cosine"] = double.IsFinite(f.Result.Cosine) ? Math.Round(f.Result.Cosine, 6) : null,
        ["tolerance"] = f.Tolerance.ToString(),
        ["passed"] = f.Result.Passed,
        ["failure"] = f.Result.Failure,
    };

    private static string? Round(double v) => double.IsFinite(v) ? v.ToString("0.##e+0", CultureInfo.InvariantCulture) : null;

    /// <summary>Loads the golden fixture an export's --config belongs to (fixture.json beside golden.safetensors), or null.</summary>
    public static GoldenFixture? FixtureOf(string? configPath, string checkpointPath)
    {
        if (configPath is null) return null;
        string dir = Path.GetDirectoryName(Path.GetFullPath(configPath))!;
        if (Path.GetFileName(configPath) != "fixture.json" || !File.Exists(Path.Combine(dir, "golden.safetensors"))) return null;
        // Goldens say something only about the fixture's own weights.
        string own = Path.Combine(dir, "model.safetensors");
        if (!File.Exists(own) || Path.GetFullPath(checkpointPath) != own) return null;
        return GoldenFixture.Load(dir);
    }

    /// <summary>Short description of the reference computation for reports.</summary>
    public static string ReferenceName(string device, DataType precision) => $"TorchSharp {device} {precision.ShortName()}";
}
