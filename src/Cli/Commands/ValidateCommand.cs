using ModelForge.Converters.Onnx;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelForge.Cli.Output;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Reports;
using ModelForge.Validators.Torch;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge validate`: golden fixtures (--fixture DIR) or reference-vs-exported parity of a checkpoint on
/// random or given inputs (--arch/--checkpoint/--inputs). Exit 0 pass, 1 parity failure, 2 usage/input error or nothing
/// compared (every case skipped).
/// </summary>
public static class ValidateCommand
{
    public static Command Create()
    {
        var fixture = new Option<string>("--fixture")
        {
            Description = "Golden fixture folder (fixture.json, model.safetensors, golden.safetensors)",
        };
        var arch = CommonOptions.Arch();
        var checkpoint = CommonOptions.Checkpoint();
        var config = CommonOptions.Config();
        var imageSize = CommonOptions.ImageSize();
        var inputs = new Option<string>("--inputs")
        {
            Description = "random | FILE.safetensors (tensors named as the graph inputs; CASE.INPUT for several cases)",
            DefaultValueFactory = _ => "random",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of random inputs", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Batch of random inputs", DefaultValueFactory = _ => 1 };
        var paths = new Option<string>("--paths")
        {
            Description = "reference,exported (default both)",
            DefaultValueFactory = _ => "reference,exported",
        };
        var device = new Option<string>("--device") { Description = "cpu | cuda (reference path)", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var libtorch = new Option<string?>("--libtorch")
        {
            Description = $"Folder with a CUDA libtorch (e.g. a PyTorch install's torch/lib); or set {TorchRuntime.LibTorchEnvVar}",
        };
        var precision = new Option<string>("--precision")
        {
            Description = "fp32 | fp16 | bf16 | fp64 (reference path)",
            DefaultValueFactory = _ => "fp32",
        };
        var atol = new Option<string[]>("--atol")
        {
            Description = "Absolute tolerance: VALUE for all outputs and/or OUTPUT:VALUE per output (repeatable)",
            AllowMultipleArgumentsPerToken = true,
        };
        var rtol = new Option<string[]>("--rtol")
        {
            Description = "Relative tolerance: VALUE and/or OUTPUT:VALUE (repeatable)",
            AllowMultipleArgumentsPerToken = true,
        };
        var errorStat = new Option<string>("--check-error-stat")
        {
            Description = "What must stay under tolerance: elementwise | max | mean | median | quantile:Q",
            DefaultValueFactory = _ => "elementwise",
        };
        var arbiter = new Option<string?>("--arbiter")
        {
            Description = "fp64: also run the graph in float64 and say which path (golden, exported, reference) is nearest it",
        };
        arbiter.AcceptOnlyFromAmong("fp64");
        var report = new Option<string?>("--report") { Description = "Write the results as JSON" };
        var junit = new Option<string?>("--junit") { Description = "Write the results as JUnit XML" };
        var saveInputs = new Option<string?>("--save-inputs")
        {
            Description = "Write every case's inputs to FILE.safetensors (CASE.INPUT; bare names without --fixture)",
        };
        var saveOutputs = new Option<string?>("--save-outputs")
        {
            Description = "Write every path's outputs to FILE.safetensors (CASE.PATH.OUTPUT)",
        };
        var opset = CommonOptions.Opset();
        var noTraces = new Option<bool>("--no-traces") { Description = "Skip intermediate (trace) comparisons" };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "Validate this exported artifact (an .onnx file, or an export folder: all its parts) as the exported path; "
                + "never written to",
        };
        var json = CommonOptions.Json();

        var cmd = new Command("validate",
            "Check numerical parity: golden outputs of the original PyTorch model, reference (TorchSharp) and exported "
            + "(ONNX Runtime) paths")
        {
            fixture, arch, checkpoint, config, imageSize, inputs, seed, batch, paths, device, libtorch, precision, atol, rtol, errorStat,
            arbiter, report, junit, saveInputs, saveOutputs, opset, noTraces, onnx, json,
        };
        var providers = new ProviderOptions();
        providers.AddTo(cmd);
        var bundle = new BundleValidateOptions();
        bundle.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (parse.GetValue(bundle.Bundle) is not null
                && (parse.GetValue(arch) is not null || parse.GetValue(onnx) is not null || parse.GetValue(config) is not null))
                throw new UsageException("--bundle takes the architecture, config and ONNX from the bundle; drop --arch/--config/--onnx");
            if (parse.GetValue(bundle.Bundle) is not null)
                return BundleValidateCommand.Run(parse, bundle, providers, parse.GetValue(checkpoint), parse.GetValue(fixture),
                    parse.GetResult(precision) is { Implicit: false } ? parse.GetValue(precision) : null,
                    ParseTolerances(parse.GetValue(atol), "--atol").All,
                    ParseTolerances(parse.GetValue(rtol), "--rtol").All, parse.GetValue(seed), parse.GetValue(report));
            var io = new CliOutput(parse.GetValue(json));
            var (atolAll, atolPer) = ParseTolerances(parse.GetValue(atol), "--atol");
            var (rtolAll, rtolPer) = ParseTolerances(parse.GetValue(rtol), "--rtol");
            var perOutput = atolPer.Keys.Union(rtolPer.Keys)
                .ToDictionary(k => k, k => new ToleranceOverride(atolPer.GetValueOrDefault(k), rtolPer.GetValueOrDefault(k)));
            var options = new ValidationOptions
            {
                Paths = ParsePaths(parse.GetValue(paths)!),
                Device = parse.GetValue(device)!,
                Precision = CommonOptions.ParsePrecision(parse.GetValue(precision)!, allowFp64: true),
                Atol = atolAll,
                Rtol = rtolAll,
                OutputTolerances = perOutput,
                ErrorStat = Guarded(() => ErrorStat.Parse(parse.GetValue(errorStat)!)),
                Arbiter = parse.GetValue(arbiter) is not null,
                Opset = CommonOptions.CheckOpset(parse.GetValue(opset)),
                Traces = !parse.GetValue(noTraces),
                ExportedModels = parse.GetValue(onnx) is { } model ? ArtifactModels(model) : null,
                CaptureTensors = parse.GetValue(saveInputs) is not null || parse.GetValue(saveOutputs) is not null,
                Ort = providers.Resolve(parse),
            };
            string? saveIn = CheckSafetensorsPath(parse.GetValue(saveInputs), "--save-inputs");
            string? saveOut = CheckSafetensorsPath(parse.GetValue(saveOutputs), "--save-outputs");
            // An artifact exported with a precision plan says so in its metadata; its outputs get that precision's tolerance.
            if (options.ExportedModels is [var artifact, ..]
                && OnnxModelReader.Read(artifact).Metadata.GetValueOrDefault("precision") is { } planned)
                options = options with { ExportedPrecision = CommonOptions.ParsePrecision(planned, $"{artifact}: precision metadata") };
            if (!options.Paths.Contains(ValidationPath.Reference) && (options.Device == "cuda" || options.Precision != DataType.Float32))
                throw new UsageException("--device and --precision apply to the reference path; add reference to --paths");
            if (options.ExportedModels is not null && !options.Paths.Contains(ValidationPath.Exported))
                throw new UsageException("--onnx is the exported path; add exported to --paths");
            // Inputs are checked before libtorch is loaded, so a wrong path is reported as such.
            void StartTorch()
            {
                // Every native block of 64 KiB or more gets its own mapping, unmapped on free: a case's activations (ONNX
                // Runtime without arena, libtorch) go back to the system instead of fragmenting glibc's heap case by case.
                Validators.Bench.ProcessMemory.ReturnLargeBlocksToOs();
                if (options.Paths.Contains(ValidationPath.Reference) || options.Arbiter)
                    TorchRuntime.Initialize(options.Device == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu, parse.GetValue(libtorch));
            }
            CheckReportPaths(parse.GetValue(report), parse.GetValue(junit),
                [parse.GetValue(fixture), parse.GetValue(checkpoint), parse.GetValue(config)?.FullName, parse.GetValue(inputs),
                    parse.GetValue(onnx),
                    options.ExportedModels is [var first, ..] ? Path.GetDirectoryName(first) : null]);
            var runner = new ParityRunner(options, io.Step);

            ValidationReport result;
            string? fixtureDir = parse.GetValue(fixture);
            if (fixtureDir is not null)
            {
                if (parse.GetValue(arch) is not null || parse.GetValue(checkpoint) is not null)
                    throw new UsageException(
                        "--fixture takes its architecture and checkpoint from the fixture folder; drop --arch/--checkpoint");
                io.Step($"load: fixture {fixtureDir}");
                using var f = GoldenFixture.Load(fixtureDir);
                Guarded(() => ToleranceOverride.FromFixture(f.Config, Path.Combine(fixtureDir, "fixture.json")));
                StartTorch();
                result = runner.RunFixture(f);
            }
            else
            {
                var ckptPath = parse.GetValue(checkpoint)
                    ?? throw new UsageException("give --fixture DIR, or --checkpoint (with --arch unless the folder's config.json says)");
                // Without goldens the only comparison is exported vs reference: one path alone would compare nothing.
                if (options.Paths.Count < 2)
                    throw new UsageException(
                        "--paths: without --fixture there are no golden outputs, so both reference and exported are needed");
                if (parse.GetValue(arch) is { } archName) CommonOptions.GetArchitecture(archName);
                using var cfg = CommonOptions.ReadConfig(parse.GetValue(config));
                // As export: --arch, DIR/config.json and the tensor names decide the family, config and key layout.
                var resolved = ModelResolver.Resolve(ckptPath, parse.GetValue(arch), cfg?.RootElement);
                var architecture = resolved.Architecture;
                io.Step($"open: checkpoint {ckptPath}");
                using var ckpt = Checkpoint.Open(ckptPath);
                io.Step($"build: {architecture.Name} graph");
                var graph = architecture.Build(resolved.Config, new BuildRequest(parse.GetValue(imageSize)));
                // One case, or one per CASE of a file of CASE.INPUT tensors (a fixture's --save-inputs): one graph serves all.
                var given = InputSets.LoadCases(parse.GetValue(inputs)!, graph, parse.GetValue(seed), parse.GetValue(batch), architecture,
                    resolved.Config);
                StartTorch();
                result = runner.RunInputCases(Path.GetFileName(Path.GetFullPath(ckptPath).TrimEnd('/')), architecture, graph, ckpt, given,
                    resolved.Config);
            }
            io.EndStep();
            if (saveIn is not null) Save(saveIn, runner.CapturedInputs, "inputs");
            if (saveOut is not null) Save(saveOut, runner.CapturedOutputs, "outputs");
            if (parse.GetValue(report) is { } r) ReportWriters.WriteJson(result, r);
            if (parse.GetValue(junit) is { } j) ReportWriters.WriteJunit(result, j);
            // With --json the table still goes to people, on stderr; stdout carries only the document.
            ValidatePrinter.Print(io, result);
            if (io.Json)
                io.WriteJson(new { report = ReportWriters.Document(result), phases = io.PhaseSeconds(), exit_code = Code(result) });
            if (result.NothingCompared is { } why)
            {
                // Not a pass and not a parity failure: the run proved nothing (e.g. --onnx of one size, cases of others).
                Console.Error.WriteLine($"modelforge: error: nothing compared: {why}");
                return ExitCodes.Usage;
            }
            return Code(result);
        }));
        return cmd;
    }

    private static int Code(ValidationReport r) =>
        r.NothingCompared is not null ? ExitCodes.Usage : r.Passed ? ExitCodes.Ok : ExitCodes.ParityFailed;

    private static T Guarded<T>(Func<T> f)
    {
        try
        {
            return f();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>"1e-4" (all outputs) and/or "NAME:1e-4" (one output; the last ':' splits, so trace names with dots work).</summary>
    private static (double? All, Dictionary<string, double> PerOutput) ParseTolerances(string[]? values, string option)
    {
        double? all = null;
        var per = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var v in values ?? [])
        {
            int colon = v.LastIndexOf(':');
            string name = colon > 0 ? v[..colon] : "";
            string number = colon > 0 ? v[(colon + 1)..] : v;
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || d < 0 || !double.IsFinite(d))
                throw new UsageException($"{option} {v}: give a finite number >= 0, or OUTPUT:NUMBER");
            if (colon > 0) per[name] = d;
            else all = d;
        }
        return (all, per);
    }

    /// <summary>--onnx: one .onnx file, or an export folder (its manifest's parts, else every .onnx in it).</summary>
    private static IReadOnlyList<string> ArtifactModels(string path)
    {
        if (File.Exists(path)) return [Path.GetFullPath(path)];
        if (!Directory.Exists(path)) throw new UsageException($"--onnx {path}: no such file or folder");
        string manifest = Path.Combine(path, "manifest.json");
        var files = new List<string>();
        if (File.Exists(manifest))
        {
            if (new FileInfo(manifest).Length > 16 << 20) throw new UsageException($"{manifest}: larger than 16 MiB, not a manifest");
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
                foreach (var part in doc.RootElement.GetProperty("parts").EnumerateArray())
                {
                    string file = part.GetProperty("file").GetString()!;
                    if (file != Path.GetFileName(file))
                        throw new UsageException($"{manifest}: part file {file} is not a plain file name in the folder");
                    files.Add(Path.GetFullPath(Path.Combine(path, file)));
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
            }
        }
        else
            files.AddRange(Directory.EnumerateFiles(path, "*.onnx").Where(f => !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal).Select(Path.GetFullPath));
        if (files.Count == 0) throw new UsageException($"--onnx {path}: no .onnx model in the folder");
        foreach (var f in files.Where(f => !File.Exists(f)))
            throw new UsageException($"--onnx {path}: {Path.GetFileName(f)} is listed in the manifest but missing");
        return files;
    }

    private static string? CheckSafetensorsPath(string? path, string option)
    {
        if (path is null) return null;
        if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"{option} {path}: give a FILE.safetensors path");
        if (Directory.Exists(path)) throw new UsageException($"{option} {path}: is a folder");
        return path;
    }

    private static void Save(string path, IReadOnlyDictionary<string, HostTensor> tensors, string what)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.Floats is { } f
            ? new WritableTensor(kv.Key, DataType.Float32, kv.Value.Shape,
                () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()).ToArray())
            : new WritableTensor(kv.Key, DataType.Int64, kv.Value.Shape,
                () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(kv.Value.Longs!.AsSpan()).ToArray())).ToList();
        SafetensorsWriter.Write(path, list, new Dictionary<string, string> { ["producer"] = "modelforge validate", ["content"] = what });
    }
    /// <summary>
    /// Before any case runs: reports go to files (not folders) that are none of the run's inputs, and not to one file twice.
    /// </summary>
    private static void CheckReportPaths(string? report, string? junit, IEnumerable<string?> inputs)
    {
        var given = inputs.Where(i => i is not null && i != "random").Select(i => i!).ToArray();
        if (report is not null) Converters.Artifacts.OutputGuard.CheckFile("--report", report, given);
        if (junit is not null) Converters.Artifacts.OutputGuard.CheckFile("--junit", junit, given);
        Converters.Artifacts.OutputGuard.CheckDistinct(("--report", report), ("--junit", junit));
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
                _ => throw new UsageException(
                    $"--paths {s}: '{p}' is not reference or exported{Suggest.Hint(p, ["reference", "exported"])}"),
            });
        return set.Count > 0 ? set : throw new UsageException("--paths: give reference, exported or both");
    }
}
