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

    public static Option<string> Checkpoint() => new("--checkpoint") { Description = "Checkpoint: a .safetensors file, a folder, or a sharded index (the whole VLM is fine)" };

    public static Option<FileInfo> Config() => new("--config") { Description = "Hyperparameters as JSON (fixture.json format); default: the released model" };

    public static Option<int?> ImageSize() => new("--image-size") { Description = "Square input size in pixels (default: the config's)" };

    public static Option<int> Opset() => new("--opset") { Description = "ONNX opset (17..23)", DefaultValueFactory = _ => 17 };

    /// <summary>Runs a command body, mapping every user-caused failure to one stderr line and exit code 2.</summary>
    public static int Guard(ParseResult parse, Func<int> body)
    {
        bool verbose = parse.GetValue(Verbose);
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"modelforge: error: {OneLine(e.Message)}");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"modelforge: internal error: {OneLine(e.Message)} (run with --verbose for details)");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.Internal;
        }
    }

    private static bool IsUserError(Exception e) => e is UsageException or CheckpointFormatException or CheckpointMismatchException
        or GraphException or FixtureException or ArtifactException or OnnxFormatException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or Validators.Torch.TorchUnavailableException
        or Converters.Images.ImageFormatException or ArgumentException;

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    /// <summary>Reads a --config file as a JSON document (caller disposes), or null when not given.</summary>
    public static JsonDocument? ReadConfig(FileInfo? file)
    {
        if (file is null) return null;
        if (!file.Exists) throw new UsageException($"--config {file.FullName}: file not found");
        if (file.Length > 16 << 20) throw new UsageException($"--config {file.FullName}: larger than 16 MiB, not a config");
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(file.FullName), new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new UsageException($"--config {file.FullName}: not valid JSON ({e.Message.Split('.')[0]})");
        }
    }

    public static DataType ParsePrecision(string s, string option = "--precision") => s.ToLowerInvariant() switch
    {
        "fp32" or "f32" or "float32" => DataType.Float32,
        "fp16" or "f16" or "float16" => DataType.Float16,
        "bf16" or "bfloat16" => DataType.BFloat16,
        _ => throw new UsageException($"{option} {s}: expected fp32, fp16 or bf16"),
    };
}
