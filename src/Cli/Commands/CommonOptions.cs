using System.CommandLine;
using System.Text.Json;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Fixtures;

namespace ModelForge.Cli.Commands;

/// <summary>A mistake in the command line the parser cannot see (bad combination, bad value): one line, exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Options shared by several commands, and the one place user errors become one line + exit code 2.</summary>
public static class CommonOptions
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Show stack traces for errors", Recursive = true };

    public static Option<string> Arch() => new("--arch") { Description = "Architecture (see `modelforge archs`)" };

    public static Option<string> Checkpoint() => new("--checkpoint")
    {
        Description = "Checkpoint: a .safetensors file, a folder, or a sharded index (the whole VLM is fine)",
    };

    public static Option<FileInfo> Config() => new("--config")
    {
        Description = "Hyperparameters as JSON (fixture.json format); default: the released model",
    };

    public static Option<int?> ImageSize() => new("--image-size") { Description = "Square input size in pixels (default: the config's)" };

    public static Option<int> Opset() => new("--opset") { Description = "ONNX opset (17..23)", DefaultValueFactory = _ => 17 };

    /// <summary>--json: one JSON document on stdout, human text on stderr (see <see cref="Output.CliOutput"/>).</summary>
    public static Option<bool> Json() => new("--json")
    {
        Description = "Print one JSON document on stdout (human-readable text goes to stderr)",
    };

    /// <summary>Checks --opset before any work (the exporter would only say so after opening the checkpoint and building graphs).</summary>
    public static int CheckOpset(int opset) => opset is >= OnnxExporter.MinOpset and <= OnnxExporter.MaxOpset
        ? opset
        : throw new UsageException($"--opset {opset}: supported opsets are {OnnxExporter.MinOpset}..{OnnxExporter.MaxOpset}");

    /// <summary>The architecture of that name, or one line listing the known ones with a "did you mean".</summary>
    public static Graphs.Architectures.Architecture GetArchitecture(string name)
    {
        var known = Graphs.Architectures.ArchitectureRegistry.All.Select(a => a.Name).ToArray();
        if (!known.Contains(name, StringComparer.OrdinalIgnoreCase))
            throw new UsageException(
                $"--arch {name}: unknown architecture{Output.Suggest.Hint(name, known)}; known: {string.Join(", ", known)}");
        return Graphs.Architectures.ArchitectureRegistry.Get(name);
    }

    /// <summary>A DeepSeek-OCR mode name, or one line listing the modes with a "did you mean".</summary>
    public static string CheckMode(string name)
    {
        var known = Graphs.Architectures.DeepEncoder.DeepSeekOcrMode.All.Select(m => m.Name).ToArray();
        return known.Contains(name.Trim(), StringComparer.OrdinalIgnoreCase) ? name
            : throw new UsageException($"--mode {name}: unknown mode{Output.Suggest.Hint(name, known)}; modes: {string.Join(", ", known)}");
    }

    /// <summary>Runs a command body, mapping every user-caused failure to one stderr line and exit code 2.</summary>
    public static int Guard(ParseResult parse, Func<int> body)
    {
        bool verbose = parse.GetValue(Verbose);
        // One private temp folder per run (TMPDIR points at it, so native scratch files land there too); removed at exit.
        using var temp = Converters.IO.PrivateTemp.Begin();
        Validators.Onnx.OrtRunner.ShowNativeLogs = verbose;
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            // ArgumentException appends " (Parameter 'x')": a C# name, meaningless to the user.
            string message = e is ArgumentException { ParamName: { } p }
                ? e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : e.Message;
            Console.Error.WriteLine($"modelforge: error: {OneLine(message)}");
            if (verbose) Console.Error.WriteLine(e);
            JsonError(parse, OneLine(e.Message), ExitCodes.Usage);
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"modelforge: internal error: {OneLine(e.Message)} (run with --verbose for details)");
            if (verbose) Console.Error.WriteLine(e);
            JsonError(parse, OneLine(e.Message), ExitCodes.Internal);
            return ExitCodes.Internal;
        }
    }

    /// <summary>With --json, a failed command still prints one JSON document: {"error": ..., "exit_code": N}.</summary>
    private static void JsonError(ParseResult parse, string message, int code)
    {
        if (parse.CommandResult.Command.Options.Any(o => o.Name == "--json") && parse.GetValue<bool>("--json"))
            new Output.CliOutput(json: true).WriteJson(new { error = message, exit_code = code });
    }

    private static bool IsUserError(Exception e) => e is UsageException or CheckpointFormatException or CheckpointMismatchException
        or GraphException or FixtureException or ArtifactException or OnnxFormatException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or Validators.Torch.TorchUnavailableException
        or Converters.Images.ImageFormatException or ArgumentException or Converters.IO.InputFileException;

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    /// <summary>Reads a --config file as a JSON document (caller disposes), or null when not given.</summary>
    public static JsonDocument? ReadConfig(FileInfo? file)
    {
        if (file is null) return null;
        if (!file.Exists) throw new UsageException($"--config {file.FullName}: file not found");
        if (file.Length > 16 << 20) throw new UsageException($"--config {file.FullName}: larger than 16 MiB, not a config");
        try
        {
            return JsonDocument.Parse(Converters.IO.SafeFile.ReadAllBytes(file.FullName, 16 << 20, "--config"),
                new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new UsageException($"--config {file.FullName}: not valid JSON ({e.Message.Split('.')[0]})");
        }
    }

    /// <summary>fp32/fp16/bf16 (and fp64 where <paramref name="allowFp64"/>: the reference path of validate).</summary>
    public static DataType ParsePrecision(string s, string option = "--precision", bool allowFp64 = false) => s.ToLowerInvariant() switch
    {
        "fp32" or "f32" or "float32" => DataType.Float32,
        "fp16" or "f16" or "float16" => DataType.Float16,
        "bf16" or "bfloat16" => DataType.BFloat16,
        "fp64" or "f64" or "float64" when allowFp64 => DataType.Float64,
        _ => throw new UsageException($"{option} {s}: expected fp32, fp16, bf16{(allowFp64 ? " or fp64" : "")}"
            + Output.Suggest.Hint(s, allowFp64 ? ["fp32", "fp16", "bf16", "fp64"] : ["fp32", "fp16", "bf16"])),
    };
}
