using System.CommandLine;
using ModelForge.Cli.Output;
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
        arch.Description = "Architecture (see `modelforge archs`); optional: the checkpoint folder's config.json and tensor names decide";
        var checkpoint = CommonOptions.Checkpoint();
        checkpoint.Required = true;
        var config = CommonOptions.Config();
        var imageSize = CommonOptions.ImageSize();
        var opset = CommonOptions.Opset();
        var target = new Option<string>("--target") { Description = "onnx | tensorrt", DefaultValueFactory = _ => "onnx" };
        target.AcceptOnlyFromAmong("onnx", "tensorrt");
        var output = new Option<string>("--out", "-o") { Description = "Destination folder (written atomically)", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing destination" };
        var mode = new Option<string?>("--mode")
        {
            Description = "Resolution mode (deepencoder: tiny, small, base, large, gundam, gundam-m; deepencoder2: gundam, base); " +
                "exclusive with --image-size"
        };
        var external = new Option<string>("--external-data")
        {
            Description = "auto (above 1 GiB of weights; always above 2 GB) | always | never", DefaultValueFactory = _ => "auto"
        };
        external.AcceptOnlyFromAmong("auto", "always", "never");
        var precision = new Option<string>("--precision")
        {
            Description = "fp32 | fp16 | bf16: weights stored in that type, fp32 islands (norms, softmax/attention) as Casts",
            DefaultValueFactory = _ => "fp32"
        };
        var keepFp32 = new Option<string[]>("--keep-fp32")
        {
            Description = "Scope pattern kept in fp32 (e.g. 'sam_model.blocks.0.*'); repeatable", AllowMultipleArgumentsPerToken = true
        };
        var ioDtype = new Option<string?>("--io-dtype")
        {
            Description = "fp32 | fp16 | bf16 for the graph's inputs and outputs (default fp32)"
        };
        var passes = new Option<string?>("--passes")
        {
            Description = $"Graph passes: default | none | comma list of {string.Join(", ", PassRegistry.Names)}"
        };
        var trtVersion = new Option<string?>("--trt-version")
        {
            Description = "TensorRT version the tensorrt target assumes: 10 (opset 17), 10.14 or 11 (opset 23, Attention)"
        };
        var json = CommonOptions.Json();

        var cmd = new Command("export", "Export a vision encoder from a safetensors checkpoint")
        {
            arch, checkpoint, config, imageSize, mode, target, output, force, opset, external, precision, keepFp32, ioDtype, passes,
            trtVersion, json,
        };
        var bundle = new BundleExportOptions();
        bundle.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var io = new CliOutput(parse.GetValue(json));
            bool tensorrt = parse.GetValue(target) == "tensorrt";
            if (!tensorrt && bundle.GivenWithoutBundle(parse) is { } trtOnly)
                throw new UsageException($"{trtOnly} applies to --target tensorrt");
            if (tensorrt && parse.GetResult(opset) is { Implicit: false })
                throw new UsageException("--opset: the tensorrt target picks the opset for --trt-version");
            // Cheap checks first: nothing below opens the checkpoint or builds a graph before these pass.
            if (parse.GetValue(arch) is { } archName) CommonOptions.GetArchitecture(archName);
            if (parse.GetResult(opset) is { Implicit: false }) CommonOptions.CheckOpset(parse.GetValue(opset));
            var t = Targets.Get(parse.GetValue(target)!, parse.GetResult(opset) is { Implicit: false } ? parse.GetValue(opset) : null,
                parse.GetValue(trtVersion));
            var plan = t.Precision.Plan(CommonOptions.ParsePrecision(parse.GetValue(precision)!), parse.GetValue(keepFp32) ?? [],
                parse.GetValue(ioDtype) is { } ioType ? CommonOptions.ParsePrecision(ioType, "--io-dtype") : null);
            var passList = ParsePasses(parse.GetValue(passes));
            string? modeName = parse.GetValue(mode) is { } mn ? CommonOptions.CheckMode(mn) : null;
            if (modeName is not null && parse.GetValue(imageSize) is not null)
                throw new UsageException("--mode fixes the input sizes; drop --image-size");
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            if (File.Exists(outDir)) throw new UsageException($"--out {outDir}: exists and is a file, not a folder");
            if (Directory.Exists(outDir) && !parse.GetValue(force))
                throw new UsageException($"--out {outDir}: already exists (pass --force to replace it)");
            string ckptPath = parse.GetValue(checkpoint)!;
            if (!File.Exists(ckptPath) && !Directory.Exists(ckptPath))
                throw new UsageException($"--checkpoint {ckptPath}: no such file or folder");
            using var userCfg = CommonOptions.ReadConfig(parse.GetValue(config));
            // Family + config from --arch, DIR/config.json, the tensor names and --config (overrides), before any build.
            var resolved = ModelResolver.Resolve(ckptPath, parse.GetValue(arch), userCfg?.RootElement);
            var architecture = resolved.Architecture;
            var cfgRoot = resolved.Config;
            long threshold = parse.GetValue(external) switch { "always" => 0, "never" => long.MaxValue, _ => 1L << 30 };
            var parts = modeName is null
                ? [new ArtifactPart("model", new BuildRequest(parse.GetValue(imageSize)))]
                : architecture.PlanMode(cfgRoot, modeName);
            if (tensorrt)
                return BundleExportCommand.Run(parse, bundle, architecture, ckptPath, parse.GetValue(config), cfgRoot,
                    parts, modeName?.ToLowerInvariant(), outDir, parse.GetValue(force), threshold, t, plan, passList);
            var request = new ExportRequest(architecture, ckptPath, cfgRoot, parts, outDir,
                new OnnxExportOptions(t.Opset, threshold), parse.GetValue(force), modeName?.ToLowerInvariant(), t, plan, passList,
                parse.GetValue(config)?.FullName)
            {
                ConfigSources = resolved.Sources,
                Preprocessing = resolved.Preprocessing,
            };
            var summary = ExportPipeline.Run(request, io.Step);
            io.EndStep();
            double writeSeconds = io.PhaseSeconds().GetValueOrDefault("write");
            Print(io, summary, writeSeconds);
            if (io.Json) io.WriteJson(Json(summary, io, writeSeconds));
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
            if (!PassRegistry.Names.Contains(n))
                throw new UsageException($"--passes {value}: unknown pass '{n}' (known: {string.Join(", ", PassRegistry.Names)})");
        return names;
    }

    /// <summary>The --json document: what was written, sizes, and the time per phase.</summary>
    private static object Json(ExportSummary s, CliOutput io, double writeSeconds) => new
    {
        out_dir = s.OutDir,
        parts = s.Parts.Select(p => new
        {
            name = p.Name, model = p.ModelPath, external_data = p.ExternalDataPath, nodes = p.Nodes, inputs = p.Inputs, outputs = p.Outputs
        }),
        parameters_read = s.Parameters,
        bytes = s.TotalBytes,
        seconds = Math.Round(s.Elapsed.TotalSeconds, 3),
        write_bytes_per_second = writeSeconds > 0 ? Math.Round(s.TotalBytes / writeSeconds) : (double?)null,
        phases = io.PhaseSeconds(),
    };

    private static void Print(CliOutput io, ExportSummary s, double writeSeconds)
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
        table.AddRow("time", $"{s.Elapsed.TotalSeconds:F2} s ({Markup.Escape(io.PhaseSummary())})");
        if (writeSeconds > 0) table.AddRow("write speed", $"{s.TotalBytes / writeSeconds / 1e6:F1} MB/s");
        io.Human.Write(table);
    }
}
