using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelForge.Cli.Commands;

/// <summary>
/// Progress lines on stderr and JSON on stdout for bench/compare (stdout stays machine-readable with --json).
/// Branch `dailyuse` adds a shared helper of this kind; these two commands move to it when both are merged.
/// </summary>
public static class BenchOutput
{
    /// <summary>snake_case, indented, NaN/∞ as strings: what --json writes.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>One progress line on stderr, prefixed with the elapsed time of the process.</summary>
    public static void Progress(string message) =>
        Console.Error.WriteLine($"[{(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalSeconds,6:F1} s] " +
            $"{message}");

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);
}
