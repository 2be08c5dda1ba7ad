using ModelForge.Converters.Onnx;
using System.CommandLine;
using System.Globalization;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Reports;
using ModelForge.Validators.Torch;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge validate`: golden fixtures (--fixture DIR) or reference-vs-exported parity of a checkpoint on
/// random or given inputs (--arch/--checkpoint/--inputs). Exit 0 pass, 1 parity failure, 2 usage/input error.
/// </summary>
public static class ValidateCommand
{
    public static Command Create()
    {
        var fixture = new Option<string>("--fixture") { Description = "Golden fixture folder (fixture.json, model.safetensors, golden.safetensors)" };
        var arch = CommonOptions.Arch();
        var checkpoint = CommonOptions.Checkpoint();
        var config = CommonOptions.Config();
        var imageSize = CommonOptions.ImageSize();
        var inputs = new Option<string>("--inputs") { Description = "random | FILE.safetensors (tensors named as the graph inputs)", DefaultValueFactory = _ => "random" };
        var seed = new Option<int>("--seed") { Description = "Seed of random inputs", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Batch of random inputs", DefaultValueFactory = _ => 1 };
        var paths = new Option<string>("--paths") { Description = "reference,exported (default both)", DefaultValueFactory = _ => "reference,exported" };
        var device = new Option<string>("--device") { Description = "cpu | cuda (reference path)", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var libtorch = new Option<string?>("--libtorch") { Description = $"Folder with a CUDA libtorch (e.g. a PyTorch install's torch/lib); or set {TorchRuntime.LibTorchEnvVar}" };
        var precision = new Option<string>("--precision") { Description = "fp32 | fp16 | bf16 (reference path)", DefaultValueFactory = _ => "fp32" };
        var atol = new Option<double?>("--atol") { Description = "Absolute tolerance (default per precision)" };
        var rtol = new Option<double?>("--rtol") { Description = "Relative tolerance (default per precision)" };
        var report = new Option<string?>("--report") { Description = "Write the results as JSON" };
        var junit = new Option<string?>("--junit") { Description = "Write the results as JUnit XML" };
        var opset = CommonOptions.Opset();
        var noTraces = new Option<bool>("--no-traces") { Description = "Skip intermediate (trace) comparisons" };
        var onnx = new Option<string?>("--onnx") { Description = "Validate this exported .onnx artifact as the exported path (instead of exporting afresh)" };

        var cmd = new Command("validate", "Check numerical parity: golden outputs of the original PyTorch model, reference (TorchSharp) and exported (ONNX Runtime) paths")
        {
            fixture, arch, checkpoint, config, imageSize, inputs, seed, batch, paths, device, libtorch, precision, atol, rtol, report, junit, opset, noTraces, onnx,
        };
        var providers = new ProviderOptions();
        providers.AddTo(cmd);
        var bundle = new BundleValidateOptions();
        bundle.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (parse.GetValue(bundle.Bundle) is not null && (parse.GetValue(arch) is not null || parse.GetValue(onnx) is not null || parse.GetValue(config) is not null))
                throw new UsageException("--bundle takes the architecture, config and ONNX from the bundle; drop --arch/--config/--onnx");
            if (parse.GetValue(bundle.Bundle) is not null)
                return BundleValidateCommand.Run(parse, bundle, providers, parse.GetValue(checkpoint), parse.GetValue(fixture),
                    parse.GetResult(precision) is { Implicit: false } ? parse.GetValue(precision) : null, Positive(parse.GetValue(atol), "--atol"),
                    Positive(parse.GetValue(rtol), "--rtol"), parse.GetValue(seed), parse.GetValue(report));
            var options = new ValidationOptions
            {
                Paths = ParsePaths(parse.GetValue(paths)!),
                Device = parse.GetValue(device)!,
                Precision = CommonOptions.ParsePrecision(parse.GetValue(precision)!),
                Atol = Positive(parse.GetValue(atol), "--atol"),
                Rtol = Positive(parse.GetValue(rtol), "--rtol"),
                Opset = parse.GetValue(opset),
                Traces = !parse.GetValue(noTraces),
                Ort = providers.Resolve(parse),
                ExportedModel = parse.GetValue(onnx) is { } model ? (File.Exists(model) ? Path.GetFullPath(model) : throw new UsageException($"--onnx {model}: file not found")) : null,
            };
            // An artifact exported with a precision plan says so in its metadata; its outputs get that precision's tolerance.
            if (options.ExportedModel is { } artifact && OnnxModelReader.Read(artifact).Metadata.GetValueOrDefault("precision") is { } planned)
                options = options with { ExportedPrecision = CommonOptions.ParsePrecision(planned, $"{artifact}: precision metadata") };
            if (!options.Paths.Contains(ValidationPath.Reference) && (options.Device == "cuda" || options.Precision != DataType.Float32))
                throw new UsageException("--device and --precision apply to the reference path; add reference to --paths");
            // Inputs are checked before libtorch is loaded, so a wrong path is reported as such.
            void StartTorch()
            {
                if (options.Paths.Contains(ValidationPath.Reference))
                    TorchRuntime.Initialize(options.Device == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu, parse.GetValue(libtorch));
            }
            var runner = new ParityRunner(options, msg => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"));

            ValidationReport result;
            string? fixtureDir = parse.GetValue(fixture);
            if (fixtureDir is not null)
            {
                if (parse.GetValue(arch) is not null || parse.GetValue(checkpoint) is not null)
                    throw new UsageException("--fixture takes its architecture and checkpoint from the fixture folder; drop --arch/--checkpoint");
                using var f = GoldenFixture.Load(fixtureDir);
                StartTorch();
                result = runner.RunFixture(f);
            }
            else
            {
                var archName = parse.GetValue(arch) ?? throw new UsageException("give --fixture DIR, or --arch and --checkpoint");
                // Without goldens the only comparison is exported vs reference: one path alone would compare nothing.
                if (options.Paths.Count < 2)
                    throw new UsageException("--paths: without --fixture there are no golden outputs, so both reference and exported are needed");
                var ckptPath = parse.GetValue(checkpoint) ?? throw new UsageException("--checkpoint is required with --arch");
                var architecture = ArchitectureRegistry.Get(archName);
                using var cfg = CommonOptions.ReadConfig(parse.GetValue(config));
                using var ckpt = Checkpoint.Open(ckptPath);
                var graph = architecture.Build(cfg?.RootElement, new BuildRequest(parse.GetValue(imageSize)));
                var given = InputSets.Load(parse.GetValue(inputs)!, graph, parse.GetValue(seed), parse.GetValue(batch), architecture, cfg?.RootElement);
                StartTorch();
                result = runner.RunInputs(Path.GetFileName(Path.GetFullPath(ckptPath).TrimEnd('/')), architecture, graph, ckpt, given, cfg?.RootElement);
            }
            Print(result);
            if (parse.GetValue(report) is { } r) ReportWriters.WriteJson(result, r);
            if (parse.GetValue(junit) is { } j) ReportWriters.WriteJunit(result, j);
            return result.Passed ? ExitCodes.Ok : ExitCodes.ParityFailed;
        }));
        return cmd;
    }

    private static double? Positive(double? v, string name) =>
        v is null || (v >= 0 && double.IsFinite(v.Value)) ? v : throw new UsageException($"{name} {v}: must be a finite number >= 0");

    private static HashSet<ValidationPath> ParsePaths(string s)
    {
        var set = new HashSet<ValidationPath>();
        foreach (var p in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            set.Add(p.ToLowerInvariant() switch
            {
                "reference" => ValidationPath.Reference,
                "exported" => ValidationPath.Exported,
                _ => throw new UsageException($"--paths {s}: '{p}' is not reference or exported"),
            });
        return set.Count > 0 ? set : throw new UsageException("--paths: give reference, exported or both");
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("0.###e+0", CultureInfo.InvariantCulture) : "-";

    private static readonly string[] Comparisons = ["exported vs golden", "reference vs golden", "exported vs reference"];

    /// <summary>One row per case x output with the max abs error of each comparison; failures listed in full below.</summary>
    private static void Print(ValidationReport r)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Subject)}[/] ({Markup.Escape(r.Architecture)}), reference on {r.Device} in {r.Precision}");
        foreach (var (k, v) in r.Tolerances) AnsiConsole.MarkupLine($"  [grey]{Markup.Escape(k)}: {Markup.Escape(v)}[/]");
        var present = Comparisons.Where(c => r.AllOutputs.Any(o => o.Comparison == c)).ToArray();
        var table = new Table().AddColumn("case").AddColumn("output");
        foreach (var c in present) table.AddColumn(new TableColumn(c.Replace("exported", "exp").Replace("reference", "ref") + " max abs").RightAligned());
        table.AddColumn("");
        foreach (var group in r.AllOutputs.Where(o => !o.Output.StartsWith("trace.", StringComparison.Ordinal)).GroupBy(o => (o.Case, o.Output)))
        {
            var cells = new List<string> { Markup.Escape(group.Key.Case), Markup.Escape(group.Key.Output) };
            foreach (var c in present)
                cells.Add(group.FirstOrDefault(o => o.Comparison == c) is { } o ? (o.Result.Passed ? "" : "[red]") + Num(o.Result.MaxAbs) + (o.Result.Passed ? "" : "[/]") : "-");
            cells.Add(group.All(o => o.Result.Passed) ? "[green]pass[/]" : "[red]FAIL[/]");
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
        foreach (var o in r.AllOutputs.Where(o => !o.Result.Passed))
            AnsiConsole.MarkupLine($"[red]FAIL[/] {Markup.Escape($"{o.Case} {o.Comparison} {o.Output}: {o.Result.Failure} ({ReportWriters.Metrics(o.Result)})")}");
        foreach (var c in r.Cases)
        {
            int traces = c.Outputs.Count(o => o.Output.StartsWith("trace.", StringComparison.Ordinal));
            string timing = string.Join(", ", c.Seconds.Select(s => $"{s.Key} {s.Value:F2} s"));
            if (c.Skipped is not null)
            {
                AnsiConsole.MarkupLine($"{Markup.Escape(c.Case)}: {Markup.Escape(c.Skipped)}");
                continue;
            }
            AnsiConsole.MarkupLine($"{Markup.Escape(c.Case)}: {(c.Passed ? "[green]pass[/]" : "[red]FAIL[/]")}, {traces} trace comparisons, {Markup.Escape(timing)}");
            foreach (var (comparison, block) in c.FirstDivergence)
                AnsiConsole.MarkupLine($"  [red]first divergence ({Markup.Escape(comparison)}): {Markup.Escape(block)}[/]");
        }
        int total = r.AllOutputs.Count(), failed = r.AllOutputs.Count(o => !o.Result.Passed);
        AnsiConsole.MarkupLine(r.Passed ? $"[green]PASS[/] {total} comparisons" : $"[red]FAIL[/] {failed} of {total} comparisons out of tolerance");
    }
}
