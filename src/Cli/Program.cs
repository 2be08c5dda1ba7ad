using System.CommandLine;
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
            static string Flat(string m) => string.Join(' ', m.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()));
            Console.Error.WriteLine($"modelforge: {string.Join("; ", parsed.Errors.Select(e => Flat(e.Message)))}");
            return ExitCodes.Usage;
        }
        return parsed.Invoke();
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
