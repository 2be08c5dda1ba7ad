using System.CommandLine;
using Spectre.Console;
using ModelForge.Cli.Commands;

namespace ModelForge.Cli;

/// <summary>
/// modelforge: export VLM vision encoders to verified ONNX artifacts. Exit codes: 0 success, 1 parity failure,
/// 2 usage or input error (one line on stderr naming the file/tensor/option), 3 internal error.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Commands that still print through the static AnsiConsole (bundles, bench, compare) follow the same width rule as
        // CliOutput: no wrapping when stdout is redirected, COLUMNS honoured.
        AnsiConsole.Profile.Width = Output.CliOutput.Width(Console.IsOutputRedirected, AnsiConsole.Profile.Width);
        var root = new RootCommand("ModelForge: turn VLM vision-encoder checkpoints into verified, deployable ONNX artifacts.")
        {
            CommonOptions.Verbose,
        };
        root.Add(ExportCommand.Create());
        root.Add(ValidateCommand.Create());
        root.Add(InspectCommand.Create());
        root.Add(ArchsCommand.Create());
        root.Add(RunCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(CompareCommand.Create());

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
        {
            // One line, as for every other user error: the parser's own messages may list choices on separate lines.
            static string Flat(string m) =>
                string.Join(' ', m.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()));
            Console.Error.WriteLine(
                $"modelforge: {string.Join("; ", parsed.Errors.Select(e => Flat(e.Message) + DidYouMean(parsed, e.Message)))}");
            return ExitCodes.Usage;
        }
        return parsed.Invoke();
    }

    /// <summary>
    /// " (did you mean --json?)" for an unrecognized token near an option or subcommand of the command, or near an allowed value.
    /// </summary>
    private static string DidYouMean(ParseResult parsed, string message)
    {
        var quoted = System.Text.RegularExpressions.Regex.Matches(message, "'([^']*)'").Select(m => m.Groups[1].Value).ToArray();
        if (quoted.Length == 0) return "";
        if (message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal))
        {
            var names = new List<string>();
            for (var c = parsed.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            {
                bool own = ReferenceEquals(c, parsed.CommandResult);
                foreach (var o in c.Command.Options.Where(o => own || o.Recursive)) names.AddRange([o.Name, .. o.Aliases]);
                if (own) foreach (var sub in c.Command.Subcommands) names.AddRange([sub.Name, .. sub.Aliases]);
            }
            return Output.Suggest.Hint(quoted[0], names);
        }
        // "Argument 'onx' not recognized. Must be one of: 'onnx' 'tensorrt'"
        return quoted.Length > 1 && message.Contains("Must be one of", StringComparison.Ordinal)
            ? Output.Suggest.Hint(quoted[0], quoted[1..]) : "";
    }
}

/// <summary>The process exit codes, documented in the README.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int ParityFailed = 1;
    public const int Usage = 2;
    public const int Internal = 3;
}
