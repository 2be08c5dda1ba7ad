using System.CommandLine;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Converters.Targets;
using ModelForge.Graphs.Passes;
using ModelForge.Graphs.Architectures;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>`modelforge export`: checkpoint -> ONNX artifact folder (model.onnx [+ model.onnx.data] + manifest.json).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var arch = CommonOptions.Arch();
        arch.Required = true;
        var checkpoint = CommonOptions.Checkpoint();
        checkpoint.Required = true;
        var config = CommonOptions.Config();
        var imageSize = CommonOptions.ImageSize();
        var opset = CommonOptions.Opset();
        var target = new Option<string>("--target") { Description = "onnx | tensorrt", DefaultValueFactory = _ => "onnx" };
        target.AcceptOnlyFromAmong("onnx", "tensorrt");
        var output = new Option<string>("--out", "-o") { Description = "Destination folder (written atomically)", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing destination" };
        var mode = new Option<string?>("--mode") { Description = "Resolution mode (deepencoder: tiny, small, base, large, gundam, gundam-m; deepencoder2: gundam, base); exclusive with --image-size" };
        var external = new Option<string>("--external-data") { Description = "auto (above 1 GiB of weights; always above 2 GB) | always | never", DefaultValueFactory = _ => "auto" };
        external.AcceptOnlyFromAmong("auto", "always", "never");
        var precision = new Option<string>("--precision") { Description = "fp32 | fp16 | bf16: weights stored in that type, fp32 islands (norms, softmax/attention) as Casts", DefaultValueFactory = _ => "fp32" };
        var keepFp32 = new Option<string[]>("--keep-fp32") { Description = "Scope pattern kept in fp32 (e.g. 'sam_model.blocks.0.*'); repeatable", AllowMultipleArgumentsPerToken = true };
        var ioDtype = new Option<string?>("--io-dtype") { Description = "fp32 | fp16 | bf16 for the graph's inputs and outputs (default fp32)" };
        var passes = new Option<string?>("--passes") { Description = $"Graph passes: default | none | comma list of {string.Join(", ", PassRegistry.Names)}" };
        var trtVersion = new Option<string?>("--trt-version") { Description = "TensorRT version the tensorrt target assumes: 10 (opset 17), 10.14 or 11 (opset 23, Attention)" };

        var cmd = new Command("export", "Export a vision encoder from a safetensors checkpoint")
        {
            arch, checkpoint, config, imageSize, mode, target, output, force, opset, external, precision, keepFp32, ioDtype, passes, trtVersion,
        };
        var bundle = new BundleExportOptions();
        bundle.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            bool tensorrt = parse.GetValue(target) == "tensorrt";
            if (!tensorrt && bundle.GivenWithoutBundle(parse) is { } trtOnly)
                throw new UsageException($"{trtOnly} applies to --target tensorrt");
            if (tensorrt && parse.GetResult(opset) is { Implicit: false })
                throw new UsageException("--opset: the tensorrt target picks the opset for --trt-version");
            var architecture = ArchitectureRegistry.Get(parse.GetValue(arch)!);
            using var cfg = CommonOptions.ReadConfig(parse.GetValue(config));
            long threshold = parse.GetValue(external) switch { "always" => 0, "never" => long.MaxValue, _ => 1L << 30 };
            string? modeName = parse.GetValue(mode);
            if (modeName is not null && parse.GetValue(imageSize) is not null)
                throw new UsageException("--mode fixes the input sizes; drop --image-size");
            var parts = modeName is null
                ? [new ArtifactPart("model", new BuildRequest(parse.GetValue(imageSize)))]
                : architecture.PlanMode(cfg?.RootElement, modeName);
            var t = Targets.Get(parse.GetValue(target)!, parse.GetResult(opset) is { Implicit: false } ? parse.GetValue(opset) : null, parse.GetValue(trtVersion));
            var plan = t.Precision.Plan(CommonOptions.ParsePrecision(parse.GetValue(precision)!), parse.GetValue(keepFp32) ?? [],
                parse.GetValue(ioDtype) is { } io ? CommonOptions.ParsePrecision(io, "--io-dtype") : null);
            if (tensorrt)
                return BundleExportCommand.Run(parse, bundle, architecture, parse.GetValue(checkpoint)!, parse.GetValue(config), cfg?.RootElement,
                    parts, modeName?.ToLowerInvariant(), parse.GetValue(output)!, parse.GetValue(force), threshold, t, plan, ParsePasses(parse.GetValue(passes)));
            var request = new ExportRequest(architecture, parse.GetValue(checkpoint)!, cfg?.RootElement, parts, parse.GetValue(output)!,
                new OnnxExportOptions(t.Opset, threshold), parse.GetValue(force), modeName?.ToLowerInvariant(), t, plan, ParsePasses(parse.GetValue(passes)));
            var summary = ExportPipeline.Run(request, msg => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"));
            Print(summary);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>--passes: null (the target's pipeline) for "default", [] for "none", else known names in the given order.</summary>
    private static IReadOnlyList<string>? ParsePasses(string? value)
    {
        if (value is null || value == "default") return null;
        if (value == "none") return [];
        var names = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names)
            if (!PassRegistry.Names.Contains(n)) throw new UsageException($"--passes {value}: unknown pass '{n}' (known: {string.Join(", ", PassRegistry.Names)})");
        return names;
    }

    private static void Print(ExportSummary s)
    {
        var table = new Table().AddColumns("", "");
        table.HideHeaders();
        foreach (var p in s.Parts)
        {
            table.AddRow(p.Name, Markup.Escape(p.ModelPath) + $" ({p.Nodes} nodes)");
            if (p.ExternalDataPath is not null) table.AddRow("  external data", Markup.Escape(p.ExternalDataPath));
            foreach (var i in p.Inputs) table.AddRow("  input", Markup.Escape(i));
            foreach (var o in p.Outputs) table.AddRow("  output", Markup.Escape(o));
        }
        table.AddRow("parameters read", s.Parameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("bytes", s.TotalBytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("time", $"{s.Elapsed.TotalSeconds:F2} s");
        AnsiConsole.Write(table);
    }
}
