using System.Globalization;
using System.Text;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Bundles;

/// <summary>One graph input as TensorRT sees it: name, dtype, and its shape at the profile's min / opt / max points.</summary>
public sealed record TrtInput(string Name, string DType, IReadOnlyList<string> Shape, long[] Min, long[] Opt, long[] Max)
{
    /// <summary>trtexec's shape text: "name:1x3x1024x1024".</summary>
    public string Spec(string point) => $"{Name}:{string.Join('x', point switch { "min" => Min, "max" => Max, _ => Opt })}";
}

/// <summary>How one part of a bundle (model, global, local) becomes an engine.</summary>
public sealed record TrtPartPlan(string Part, string Onnx, string Engine, IReadOnlyList<TrtInput> Inputs, IReadOnlyList<string> Arguments);

/// <summary>
/// Settings of the engine build that the bundle fixes. TensorRT 11 builds strongly typed networks only (the ONNX types
/// are the precision); 10.x accepts them too and is given --stronglyTyped whenever the ONNX carries the precision plan
/// (always for fp32). Without a plan in the ONNX, 10.x gets the weakly typed --fp16/--bf16 builder flag instead.
/// </summary>
public sealed record TrtBuildSettings(int TrtVersion, DataType Precision, bool PlanInOnnx, int BuilderOptimizationLevel = 3,
    int WorkspaceMiB = 4096)
{
    /// <summary>Whether the build is strongly typed (types from the ONNX) rather than flag-driven.</summary>
    public bool StronglyTyped => TrtVersion >= 11 || PlanInOnnx || Precision == DataType.Float32;

    /// <summary>What the engine computes in, given the settings (honest about an fp32 ONNX under TensorRT 11).</summary>
    public string EffectivePrecision => StronglyTyped ? (PlanInOnnx ? Precision.ShortName() : "f32 (the ONNX's types)")
        : Precision.ShortName() + " (builder flag)";
}

/// <summary>The trtexec commands of a bundle (build_plan.json and build_engine.sh hold the same argument lists).</summary>
public static class TrtBuildPlan
{
    public const string EngineDir = "engine";
    public const string TimingCache = EngineDir + "/timing.cache";

    /// <summary>
    /// The input shapes of a part at every profile point: symbolic dims take the axis range, fixed dims stay (static
    /// spatial shapes, as the TensorRT target wants).
    /// </summary>
    public static IReadOnlyList<TrtInput> Inputs(Graph graph, IReadOnlyDictionary<string, AxisRange> profiles, DataType? ioDType = null)
    {
        long[] At(Value v, string point) => v.Shape.Dims.Select(d => d.Symbol is null ? d.Factor : d.Factor * profiles[d.Symbol].At(point))
            .ToArray();
        // The precision plan's --io-dtype retypes float inputs of the written ONNX.
        return graph.Inputs.Select(i => new TrtInput(i.Name, (ioDType is { } io && i.DType.IsFloat() ? io : i.DType).ShortName(),
            i.Shape.Dims.Select(d => d.ToString()).ToArray(), At(i, "min"), At(i, "opt"), At(i, "max"))).ToArray();
    }

    /// <summary>The trtexec build arguments of one part (paths relative to the bundle folder).</summary>
    public static TrtPartPlan Part(string part, string onnx, IReadOnlyList<TrtInput> inputs, TrtBuildSettings s)
    {
        string engine = $"{EngineDir}/{part}.plan";
        var args = new List<string> { $"--onnx={onnx}", $"--saveEngine={engine}" };
        // Fully static inputs need no profile; trtexec rejects shape options for them.
        bool dynamic = inputs.Any(i => i.Shape.Any(d => !long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out _)));
        if (dynamic)
        {
            args.Add("--minShapes=" + string.Join(',', inputs.Select(i => i.Spec("min"))));
            args.Add("--optShapes=" + string.Join(',', inputs.Select(i => i.Spec("opt"))));
            args.Add("--maxShapes=" + string.Join(',', inputs.Select(i => i.Spec("max"))));
        }
        if (s.StronglyTyped) args.Add("--stronglyTyped");
        else if (s.Precision == DataType.Float16) args.Add("--fp16");
        else if (s.Precision == DataType.BFloat16) args.Add("--bf16");
        args.Add($"--timingCacheFile={TimingCache}");
        args.Add($"--builderOptimizationLevel={s.BuilderOptimizationLevel}");
        args.Add($"--memPoolSize=workspace:{s.WorkspaceMiB}M");
        args.Add("--skipInference");
        return new TrtPartPlan(part, onnx, engine, inputs, args);
    }

    /// <summary>
    /// The arguments of an engine inference run for parity: fixed shapes, inputs from raw files in the engine's input dtypes,
    /// outputs exported as JSON ([{"name", "dimensions": "AxBxC", "values": [...]}], trtexec's --exportOutput format).
    /// </summary>
    public static IReadOnlyList<string> Inference(string engine, IReadOnlyList<(string Name, long[] Shape, string File)> inputs,
        string outputJson)
    {
        var args = new List<string> { $"--loadEngine={engine}" };
        args.Add("--shapes=" + string.Join(',', inputs.Select(i => $"{i.Name}:{string.Join('x', i.Shape)}")));
        args.Add("--loadInputs=" + string.Join(',', inputs.Select(i => $"{i.Name}:{i.File}")));
        args.Add($"--exportOutput={outputJson}");
        // One inference is all parity needs (trtexec otherwise times runs for 3 s).
        args.AddRange(["--iterations=1", "--warmUp=0", "--duration=0", "--avgRuns=1"]);
        return args;
    }

    /// <summary>build_engine.sh: the same commands, runnable by hand on a machine with TensorRT (TRTEXEC=... to pick one).</summary>
    public static string Script(IReadOnlyList<TrtPartPlan> parts, TrtBuildSettings s)
    {
        var sb = new StringBuilder();
        sb.Append("#!/usr/bin/env bash\n");
        sb.Append("# Builds the TensorRT engine(s) of this ModelForge bundle. Run it on the deployment machine: an NVIDIA GPU and\n");
        sb.Append($"# TensorRT {s.TrtVersion}.x (trtexec on PATH, or TRTEXEC=/path/to/trtexec). " +
            $"Engines are specific to the GPU model and\n");
        sb.Append("# the TensorRT version that build them. Afterwards: modelforge validate --bundle . " +
            "--checkpoint CKPT --trtexec \"$TRTEXEC\"\n");
        sb.Append("set -euo pipefail\n");
        sb.Append("cd \"$(dirname \"$0\")\"\n");
        sb.Append("TRTEXEC=${TRTEXEC:-trtexec}\n");
        sb.Append("command -v \"$TRTEXEC\" >/dev/null || { echo \"build_engine.sh: $TRTEXEC not found (install TensorRT or set " +
            "TRTEXEC)\" >&2; exit 2; }\n");
        sb.Append($"mkdir -p {EngineDir}\n");
        foreach (var p in parts)
            sb.Append("\"$TRTEXEC\" ").Append(string.Join(" \\\n  ", p.Arguments.Select(Quote))).Append('\n');
        return sb.ToString();
    }

    /// <summary>Single-quotes an argument for bash when it holds anything beyond a safe set of characters.</summary>
    public static string Quote(string a) =>
        a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_=./:,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
