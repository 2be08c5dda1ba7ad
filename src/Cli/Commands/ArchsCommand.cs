using System.CommandLine;
using ModelForge.Graphs.Architectures;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>`modelforge archs`: the architectures and their released defaults.</summary>
public static class ArchsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print each architecture's default config as JSON" };
        var cmd = new Command("archs", "List the architectures ModelForge can build, with their defaults") { json };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            foreach (var a in ArchitectureRegistry.All)
            {
                AnsiConsole.MarkupLine($"[bold]{Markup.Escape(a.Name)}[/]: {Markup.Escape(a.Paradigm)}");
                AnsiConsole.MarkupLine($"  checkpoint keys: {Markup.Escape(string.Join(", ", FamilySignatures.All.First(f => f.Family == a.Name).Prefixes.Select(p => p + "*")))}");
                if (parse.GetValue(json)) Console.WriteLine(a.DefaultConfigJson);
                else
                {
                    var g = a.Build(null, new BuildRequest());
                    AnsiConsole.MarkupLine($"  default: {g.ParameterCount:N0} parameters read, inputs {Markup.Escape(string.Join(", ", g.Inputs.Select(i => $"{i.Name} {i.Type}")))}");
                    AnsiConsole.MarkupLine($"  outputs: {Markup.Escape(string.Join(", ", g.Outputs.Select(o => $"{o.Name} {o.Type}")))}");
                }
            }
            if (!parse.GetValue(json)) PrintVariants();
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The released variants, each built from its config.json fields (no weights), with the graph's parameter count.</summary>
    private static void PrintVariants()
    {
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine("[bold]released variants[/] (export --checkpoint DIR reads DIR/config.json; --arch and --config are optional):");
        foreach (var v in Graphs.Architectures.HfConfig.ReleasedVariants.All)
        {
            string count = v.VisionParameters().ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
            // Plain lines (no console wrapping): one variant per line, greppable.
            Console.WriteLine($"  {v.Name} ({v.Family}): {count} parameters read; {v.Tower} [config: {v.Source.Split(':')[0]}]");
        }
    }
}
