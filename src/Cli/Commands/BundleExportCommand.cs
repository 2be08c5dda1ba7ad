using System.CommandLine;
using ModelForge.Converters.Bundles;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Passes;
using ModelForge.Graphs.Architectures;
using ModelForge.Validators.Bundles;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>The options of `export` that only the TensorRT bundle uses, and the `export --target tensorrt` action.</summary>
public sealed class BundleExportOptions
{
    public Option<string[]> Profile { get; } = new("--profile")
    {
        Description = "tensorrt: optimization profile of a dynamic axis, AXIS=MIN:OPT:MAX (default B=1:1:8, T=2:6:9)",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string?> Trtexec { get; } = new("--trtexec")
    {
        Description = "tensorrt: trtexec to build the engine with (default: trtexec on PATH, if any)",
    };

    public Option<bool> RequireEngine { get; } = new("--require-engine")
    {
        Description = "tensorrt: fail (exit 2) unless an engine is built",
    };

    public Option<bool> NoParity { get; } = new("--no-parity")
    {
        Description = "tensorrt: skip the parity run at export (the manifest then records none)",
    };

    public Option<int> Seed { get; } = new("--seed")
    {
        Description = "tensorrt: seed of the random parity inputs",
        DefaultValueFactory = _ => 0,
    };

    public Option<int> BuildTimeout { get; } = new("--build-timeout")
    {
        Description = "tensorrt: seconds one trtexec run may take",
        DefaultValueFactory = _ => 3600,
    };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Profile, Trtexec, RequireEngine, NoParity, Seed, BuildTimeout }) cmd.Add(o);
    }

    /// <summary>Whether any bundle-only option was given (they make no sense with --target onnx).</summary>
    public string? GivenWithoutBundle(ParseResult parse) =>
        new Option[] { Profile, Trtexec, RequireEngine, NoParity, Seed, BuildTimeout }
            .FirstOrDefault(o => parse.GetResult(o) is { Implicit: false })?.Name;
}

/// <summary>`export --target tensorrt`: writes the bundle, reports parity and what happened to the engine.</summary>
public static class BundleExportCommand
{
    public static int Run(ParseResult parse, BundleExportOptions o, Architecture architecture, string checkpoint, FileInfo? configFile,
        System.Text.Json.JsonElement? config, IReadOnlyList<ArtifactPart> parts, string? mode, string outDir, bool force,
            long externalThreshold,
        Target target, PrecisionPlan plan, IReadOnlyList<string>? passes)
    {
        int timeout = parse.GetValue(o.BuildTimeout);
        if (timeout < 1) throw new UsageException($"--build-timeout {timeout}: must be at least 1 second");
        string? trtexec = parse.GetValue(o.Trtexec);
        if (parse.GetValue(o.RequireEngine) && Trtexec.Locate(trtexec) is null)
            throw new UsageException(
                "--require-engine: no trtexec on PATH and no --trtexec given (no TensorRT on this machine); nothing was written");
        var request = new BundleRequest(architecture, checkpoint, configFile?.FullName, config, parts, mode, outDir, force, target, plan,
            passes,
            TrtProfiles.Parse(parse.GetValue(o.Profile) ?? []), externalThreshold, trtexec,
            TimeSpan.FromSeconds(timeout), parse.GetValue(o.Seed), !parse.GetValue(o.NoParity));
        var result = BundleExporter.Run(request, msg => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"));

        Console.WriteLine($"bundle: {result.Dir}");
        foreach (var n in result.Notes) Console.WriteLine($"note: {n}");
        foreach (var g in result.Figures.GroupBy(f => (f.Part, f.Comparison)))
        {
            var worst = g.MaxBy(f => double.IsFinite(f.Result.MaxAbs) ? f.Result.MaxAbs : double.MaxValue)!;
            Console.WriteLine($"parity {g.Key.Part} {g.Key.Comparison}: {(g.All(f => f.Result.Passed) ? "pass" : "FAIL")}, " +
                $"max abs {BundleParity.ToJson(worst)["max_abs"]}, "
                + $"cosine {BundleParity.ToJson(worst)["cosine"]} ({worst.Tolerance}; {g.Count()} comparisons)");
        }
        foreach (var f in result.Figures.Where(f => !f.Result.Passed))
            Console.WriteLine($"FAIL {f.Part} {f.Case} {f.Comparison} {f.Output}: {f.Result.Failure}");
        Console.WriteLine($"engine: {result.Engine.Status}: {result.Engine.Message}");
        if (result.Engine.Status == EngineOutcome.Failed) return ExitCodes.Internal;
        if (!result.Engine.IsBuilt && parse.GetValue(o.RequireEngine))
        {
            Console.Error.WriteLine($"modelforge: error: --require-engine: no engine was built ({result.Engine.Message})");
            return ExitCodes.Usage;
        }
        return result.ParityPassed == false ? ExitCodes.ParityFailed : ExitCodes.Ok;
    }
}
