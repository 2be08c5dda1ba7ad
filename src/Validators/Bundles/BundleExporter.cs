using System.Text.Json;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Bundles;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Passes;
using ModelForge.Validators.Torch;

namespace ModelForge.Validators.Bundles;

/// <summary>Everything `export --target tensorrt` was asked.</summary>
public sealed record BundleRequest(
    Architecture Architecture,
    string CheckpointPath,
    string? ConfigPath,
    JsonElement? Config,
    IReadOnlyList<ArtifactPart> Parts,
    string? Mode,
    string OutDir,
    bool Force,
    Target Target,
    PrecisionPlan Plan,
    IReadOnlyList<string>? Passes,
    IReadOnlyDictionary<string, AxisRange> Profiles,
    long ExternalDataThreshold,
    string? Trtexec,
    TimeSpan BuildLimit,
    int Seed = 0,
    bool Parity = true,
    int BuilderOptimizationLevel = 3,
    int WorkspaceMiB = 4096)
{
    /// <summary>The precision the bundle is for (the plan's).</summary>
    public DataType Precision => Plan.Precision;

    /// <summary>The TensorRT version the target assumes ("10", "10.14", "11").</summary>
    public string TrtVersion => Target.TensorRtVersion ?? "10";

    /// <summary>The TensorRT major version.</summary>
    public int TrtMajor => int.Parse(TrtVersion.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>What the export wrote and measured.</summary>
public sealed record BundleResult(string Dir, bool? ParityPassed, IReadOnlyList<ParityFigure> Figures, EngineOutcome Engine,
    IReadOnlyList<string> Notes);

/// <summary>
/// `export --target tensorrt`: the bundle folder, written atomically (staging sibling renamed into place):
/// onnx/ (the artifact ExportPipeline writes for the target), manifest.json, build_plan.json, build_engine.sh, README.md,
/// and engine/ when a trtexec ran. Deterministic: no timestamps, parity figures rounded, files listed in ordinal order.
/// </summary>
public static class BundleExporter
{
    public const string BuildPlanName = "build_plan.json", ScriptName = "build_engine.sh", ReadmeName = "README.md";

    public static BundleResult Run(BundleRequest r, Action<string>? progress = null)
    {
        if (r.Target.Name != "tensorrt") throw new ArgumentException($"a bundle needs the tensorrt target, not {r.Target.Name}");
        using var checkpoint = Checkpoint.Open(r.CheckpointPath);
        var graphs = r.Parts
            .Select(p => (Part: p, Graph: r.Architecture.Build(r.Config, p.Request with { ComputeType = DataType.Float32 }))).ToList();
        foreach (var (_, g) in graphs)
        {
            WeightBinder.Verify(g, checkpoint, r.Architecture.Adapter);
            g.PruneUnused();
        }
        var axes = graphs.SelectMany(g => g.Graph.Symbols).Distinct().ToArray();
        var profiles = TrtProfiles.Resolve(r.Profiles, axes);
        string? trtexec = Trtexec.Locate(r.Trtexec);
        if (r.Parity) TorchRuntime.Initialize(ComputeDevice.Cpu); // before anything is written: a missing libtorch is one line

        using var staging = AtomicDirectory.Begin(r.OutDir, r.Force);
        var onnx = BundleOnnxSource.Write(new BundleOnnxRequest(r.Architecture, r.CheckpointPath, r.Config, r.Parts, r.Mode, r.Target,
            r.Plan, r.Passes, r.ExternalDataThreshold), staging.Staging, progress);
        var settings = new TrtBuildSettings(r.TrtMajor, r.Precision, onnx.PlanInOnnx, r.BuilderOptimizationLevel, r.WorkspaceMiB);
        // The ONNX is checked against the reference in the precision it computes in: the requested one when the plan is in
        // the ONNX, else fp32 (then the export itself is what is checked; the requested precision applies to the engine).
        var onnxPrecision = onnx.PlanInOnnx ? r.Precision : DataType.Float32;
        var plans = graphs.Select(g => TrtBuildPlan.Part(g.Part.Name, $"{BundleOnnxSource.OnnxDir}/{g.Part.Name}.onnx",
            TrtBuildPlan.Inputs(g.Graph, profiles, r.Plan.IoDType), settings)).ToArray();

        progress?.Invoke("hashing the checkpoint tensors used");
        var (tensors, digest) = BundleFiles.CheckpointTensors(checkpoint, r.Architecture.Adapter, graphs.Select(g => g.Graph));

        var figures = new List<ParityFigure>();
        var references = new Dictionary<string, (Graph Graph, List<PartCase> Cases,
            Dictionary<string, IReadOnlyDictionary<string, HostTensor>> Outputs)>();
        string parityInputs = "none (--no-parity)";
        // ONNX Runtime's CPU provider has no bf16 Conv/MatMul kernels: a bf16 bundle's ONNX cannot run there (TensorRT runs it).
        bool ortCanRun = onnxPrecision != DataType.BFloat16;
        if (r.Parity && !ortCanRun)
        {
            parityInputs = "none: a bf16 ONNX does not run on ONNX Runtime's CPU provider (no bf16 Conv/MatMul kernels); " +
                "the engine is compared where TensorRT exists";
            onnx = onnx with { Notes =
                [.. onnx.Notes, "parity at export not measured on ONNX Runtime CPU: bf16 ONNX (no bf16 kernels there)"] };
        }
        // Open until the engine's comparison below: a golden case reads its input tensors from the fixture's file when used.
        using var fixture = r.Parity && ortCanRun ? BundleParity.FixtureOf(r.ConfigPath, r.CheckpointPath) : null;
        if (r.Parity && ortCanRun)
        {
            var weights = new CheckpointWeights(checkpoint, r.Architecture.Adapter);
            var used = new List<string>();
            foreach (var (part, graph) in graphs)
            {
                var cases = fixture is null ? [] : BundleParity.Golden(fixture, graph).ToList();
                if (cases.Count == 0) cases.Add(BundleParity.Random(graph, profiles, "opt", r.Seed));
                used.AddRange(cases.Select(c => $"{part.Name}: {c.Name}"));
                progress?.Invoke($"parity of {part.Name}.onnx (ONNX Runtime CPU) against the reference (TorchSharp CPU " +
                    $"{onnxPrecision.ShortName()}): {cases.Count} input set(s)");
                var (f, refs) = BundleParity.Run(part.Name, graph, weights,
                    Path.Combine(staging.Staging, plans.First(p => p.Part == part.Name).Onnx),
                    cases, onnxPrecision, onnxPrecision, "cpu");
                figures.AddRange(f);
                references[part.Name] = (graph, cases, refs);
            }
            parityInputs = string.Join("; ", used);
        }

        var engine = trtexec is null
            ? new EngineOutcome(EngineOutcome.NotBuilt,
                $"no trtexec on PATH (no TensorRT on this machine); build it with `bash {ScriptName}` on a machine with "
                + $"TensorRT {r.TrtVersion}.x and an NVIDIA GPU")
            : BundleEngine.Build(trtexec, staging.Staging, plans, r.BuildLimit, progress);
        var engineFigures = new List<ParityFigure>();
        string? engineParityNote = null;
        if (trtexec is not null && engine.Status != EngineOutcome.Failed && r.Parity)
        {
            foreach (var plan in plans)
            {
                var (graph, cases, refs) = references[plan.Part];
                var dtypes = plan.Inputs.ToDictionary(i => i.Name, i => i.DType);
                foreach (var c in cases)
                {
                    var (run, outputs) = BundleEngine.Infer(trtexec, staging.Staging, plan.Engine, c.Inputs, dtypes, r.BuildLimit);
                    if (!run.Succeeded) engineParityNote = $"trtexec could not run {plan.Engine}: {run.LastError}";
                    engineFigures.AddRange(BundleEngine.Compare(plan.Part, c.Name, outputs, refs[c.Name], graph.Outputs.Select(o => o.Name),
                        Parity.Tolerance.For(r.Precision)));
                }
            }
        }

        var notes = onnx.Notes.ToList();
        var manifestParts = graphs.Select(g => BundleManifest.Part(g.Part, g.Graph, plans.First(p => p.Part == g.Part.Name))).ToArray();
        BundleManifest.Write(staging.Staging,
            new BundleManifest.Content(r, onnxPrecision, onnx, settings, profiles, manifestParts, plans,
                graphs.Select(g => g.Graph).ToArray(), tensors, digest, parityInputs, figures, engine, engineFigures, engineParityNote,
                notes));
        staging.Commit();
        bool? passed = r.Parity ? figures.All(f => f.Result.Passed) : null;
        if (engine.IsBuilt && engineFigures.Count > 0) passed &= engineFigures.All(f => f.Result.Passed);
        return new BundleResult(staging.Destination, passed, figures.Concat(engineFigures).ToArray(), engine, notes);
    }
}
