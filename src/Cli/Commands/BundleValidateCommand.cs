using System.CommandLine;
using ModelForge.Converters.Bundles;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Bundles;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Reports;
using ModelForge.Validators.Torch;

namespace ModelForge.Cli.Commands;

/// <summary>The options only `validate --bundle` uses.</summary>
public sealed class BundleValidateOptions
{
    public Option<string?> Bundle { get; } = new("--bundle")
    {
        Description = "Validate a TensorRT bundle folder: hashes, then its ONNX (and engine, where built) against the reference",
    };

    public Option<string?> Trtexec { get; } = new("--trtexec")
    {
        Description = "--bundle: trtexec to run the bundle's engine with (default: trtexec on PATH)",
    };

    public Option<string> Shapes { get; } = new("--shapes")
    {
        Description = "--bundle: profile points to run random inputs at: any of min,opt,max",
        DefaultValueFactory = _ => "opt",
    };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Bundle, Trtexec, Shapes }) cmd.Add(o);
    }
}

/// <summary>
/// `validate --bundle DIR --checkpoint CKPT` (or `--fixture DIR` for goldens): every file's SHA-256, the checkpoint's
/// tensors against the manifest, then the bundle's ONNX on ONNX Runtime (--ep) against the TorchSharp reference, and the
/// engine through trtexec where one was built. Exit 0 pass, 1 hash or parity failure, 2 usage/input error.
/// </summary>
public static class BundleValidateCommand
{
    public static int Run(ParseResult parse, BundleValidateOptions b, ProviderOptions providers, string? checkpointPath, string? fixtureDir,
        string? precisionText, double? atol, double? rtol, int seed, string? report)
    {
        using var bundle = BundleReader.Open(parse.GetValue(b.Bundle)!);
        var (problems, unlisted) = BundleFiles.Verify(bundle.Dir, bundle.Manifest);
        foreach (var p in problems) Console.Error.WriteLine($"modelforge: bundle {bundle.Dir}: {p}");
        if (problems.Count > 0) return ExitCodes.ParityFailed;
        Console.WriteLine($"{bundle.Dir}: {bundle.Manifest.GetProperty("files").GetArrayLength()} files verified (SHA-256)");

        var points = parse.GetValue(b.Shapes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var p in points.Where(p => p is not ("min" or "opt" or "max")))
            throw new UsageException($"--shapes {p}: expected min, opt or max");
        var architecture = bundle.Architecture;
        // The ONNX is compared with the reference in the precision it computes in (the requested one once the plan is in
        // the ONNX, else fp32); --precision overrides. Engines are held to the requested precision's tolerance.
        var requested = CommonOptions.ParsePrecision(bundle.Precision);
        var precision = precisionText is not null ? CommonOptions.ParsePrecision(precisionText) : bundle.PlanInOnnx ? requested
            : DataType.Float32;
        var profiles = bundle.Profiles;
        using var fixture = fixtureDir is null ? null : GoldenFixture.Load(fixtureDir);
        if (fixture is null && checkpointPath is null)
            throw new UsageException("--bundle needs --checkpoint (the weights the bundle was exported from) or --fixture DIR");
        if (fixture is not null && checkpointPath is not null)
            throw new UsageException("--fixture brings its own checkpoint; drop --checkpoint");
        using var own = checkpointPath is null ? null : Checkpoint.Open(checkpointPath);
        var checkpoint = own ?? fixture!.Checkpoint;
        if (bundle.CheckpointDifference(checkpoint) is { } diff) throw new UsageException($"--checkpoint: {diff}");

        var ort = providers.Resolve(parse);
        if (precision == DataType.BFloat16 && ort.Provider == OrtProvider.Cpu)
            throw new UsageException(
                $"--bundle {bundle.Dir}: its ONNX is bf16, which ONNX Runtime's CPU provider cannot run (no bf16 Conv/MatMul "
                + "kernels); validate it with --ep cuda or --ep tensorrt, or run its engine with --trtexec where TensorRT exists");
        string Shapes(BundlePart part, string point) => string.Join(',', ShapesOf(bundle, part.Name, point));
        var parts = bundle.Parts;
        string? trtexec = Trtexec.Locate(parse.GetValue(b.Trtexec));
        TorchRuntime.Initialize(ComputeDevice.Cpu);

        var weights = new CheckpointWeights(checkpoint, architecture.Adapter);
        var figures = new List<ParityFigure>();
        var notes = new List<string>();
        foreach (var part in parts)
        {
            var graph = architecture.Build(bundle.Config, part.Request);
            graph.PruneUnused();
            var cases = fixture is null ? new List<PartCase>() : BundleParity.Golden(fixture, graph).ToList();
            if (cases.Count == 0) cases.AddRange(points.Select(p => BundleParity.Random(graph, profiles, p, seed)));
            Console.WriteLine($"{part.Name}: {part.Onnx} on ONNX Runtime ({ExecutionProviders.CliName(ort.Provider)}) "
                + $"vs {BundleParity.ReferenceName("cpu", precision)}, {cases.Count} input set(s)");
            // The TensorRT provider builds its engine for the part's profile from the manifest.
            var partOrt = ort.TensorRt is { } trt
                ? ort with
                {
                    TensorRt = trt with
                    {
                        ProfileMin = Shapes(part, "min"), ProfileOpt = Shapes(part, "opt"), ProfileMax = Shapes(part, "max"),
                    },
                }
                : ort;
            var (f, refs) = BundleParity.Run(part.Name, graph, weights, Path.Combine(bundle.Dir, part.Onnx), cases, precision,
                bundle.PlanInOnnx ? requested : DataType.Float32, "cpu", partOrt, atol, rtol);
            figures.AddRange(f);

            string engine = Path.Combine(bundle.Dir, part.Engine);
            if (!File.Exists(engine))
            {
                notes.Add($"{part.Name}: no engine in the bundle ({part.Engine}); build it with build_engine.sh where TensorRT exists");
                continue;
            }
            if (trtexec is null)
            {
                notes.Add($"{part.Name}: {part.Engine} present but not checked: no trtexec on PATH (give --trtexec)");
                continue;
            }
            if (unlisted.Contains(part.Engine))
                notes.Add($"{part.Name}: {part.Engine} is not in the manifest (built after export); checked by running it, not by hash");
            var dtypes = bundle.Manifest.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("name").GetString() == part.Name)
                .GetProperty("inputs").EnumerateArray()
                    .ToDictionary(i => i.GetProperty("name").GetString()!, i => i.GetProperty("dtype").GetString()!);
            foreach (var c in cases)
            {
                var (run, outputs) = BundleEngine.Infer(trtexec, bundle.Dir, part.Engine, c.Inputs, dtypes, TimeSpan.FromMinutes(30));
                if (!run.Succeeded) notes.Add($"{part.Name}: trtexec could not run {part.Engine}: {run.LastError}");
                var engineFigures = BundleEngine.Compare(part.Name, c.Name, outputs, refs[c.Name], graph.Outputs.Select(o => o.Name),
                    Tolerance.For(requested));
                if (run.StandIn)
                {
                    // A stand-in computes nothing: its figures are shown, never counted (neither as a pass nor a failure).
                    notes.Add($"{part.Name} {c.Name}: the trtexec at {trtexec} is a stand-in: engine figures not counted "
                        + $"({engineFigures.Count(e => e.Result.Passed)} of {engineFigures.Count} within tolerance)");
                    continue;
                }
                figures.AddRange(engineFigures);
            }
        }
        foreach (var g in figures.GroupBy(f => (f.Part, f.Comparison)))
        {
            var worst = g.MaxBy(f => double.IsFinite(f.Result.MaxAbs) ? f.Result.MaxAbs : double.MaxValue)!;
            Console.WriteLine($"{g.Key.Part} {g.Key.Comparison}: {(g.All(f => f.Result.Passed) ? "pass" : "FAIL")}, " +
                $"max abs {BundleParity.ToJson(worst)["max_abs"]}, "
                + $"cosine {BundleParity.ToJson(worst)["cosine"]} ({worst.Tolerance}; {g.Count()} comparisons)");
        }
        foreach (var f in figures.Where(f => !f.Result.Passed))
            Console.WriteLine($"FAIL {f.Part} {f.Case} {f.Comparison} {f.Output}: {f.Result.Failure}");
        foreach (var n in notes) Console.WriteLine($"note: {n}");
        if (report is not null)
            ReportWriters.WriteJson(new ValidationReport(bundle.Dir, architecture.Name, "cpu", precision.ShortName(),
                new Dictionary<string, string>(),
                figures.GroupBy(f => f.Part + " " + f.Case)
                    .Select(g => new CaseReport(g.Key, g.Select(f => new OutputReport(g.Key, f.Output, f.Comparison, f.Result)).ToArray(),
                    new Dictionary<string, string>(), new Dictionary<string, double>())).ToArray()), report);
        bool passed = figures.Count > 0 && figures.All(f => f.Result.Passed);
        Console.WriteLine(passed ? $"PASS {figures.Count} comparisons"
            : $"FAIL {figures.Count(f => !f.Result.Passed)} of {figures.Count} comparisons out of tolerance");
        return passed ? ExitCodes.Ok : ExitCodes.ParityFailed;
    }

    /// <summary>trtexec-style shapes ("name:1x3x256x256") of a part's inputs at a profile point, from the manifest.</summary>
    private static IEnumerable<string> ShapesOf(BundleReader bundle, string part, string point) =>
        bundle.Manifest.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("name").GetString() == part).GetProperty("inputs")
            .EnumerateArray()
            .Select(i => $"{i.GetProperty("name").GetString()}:"
                + string.Join('x', i.GetProperty(point).EnumerateArray().Select(d => d.GetInt64())));
}
