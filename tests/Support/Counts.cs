using System.Runtime.CompilerServices;
using Xunit.Abstractions;

namespace ModelForge.Tests.Support;

/// <summary>
/// Count lines of the fuzz and kill tests ("kills 30 ...", "generated files: ..."): written to the test output and, when
/// MODELFORGE_TEST_COUNTS names a file (.ci/run sets it), appended there so .ci/run prints them in its normal output
/// (xunit shows test output only for failures).
/// </summary>
public static class Counts
{
    private static readonly object Gate = new();

    public static void WriteLine(ITestOutputHelper output, string line, [CallerFilePath] string file = "")
    {
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("MODELFORGE_TEST_COUNTS") is not { Length: > 0 } path) return;
        lock (Gate) File.AppendAllText(path, $"{Path.GetFileNameWithoutExtension(file)}: {line}{Environment.NewLine}");
    }
}
