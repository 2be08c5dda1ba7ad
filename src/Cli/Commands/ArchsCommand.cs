using System.CommandLine;
using System.Text.Json;
using ModelForge.Cli.Output;
using ModelForge.Graphs.Architectures;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>`modelforge archs`: the architectures and their released defaults.</summary>
public static class ArchsCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var cmd = new Command("archs", "List the architectures ModelForge can build, with their defaults") { json };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var io = new CliOutput(parse.GetValue(json));
            var rows = new List<object>();
            foreach (var a in ArchitectureRegistry.All)
            {
                var keys = FamilySignatures.All.First(f => f.Family == a.Name).Prefixes.Select(p => p + "*").ToArray();
                var g = a.Build(null, new BuildRequest());
                if (io.Json)
                {
                    rows.Add(new
                    {
                        name = a.Name,
                        paradigm = a.Paradigm,
                        checkpoint_keys = keys,
                        parameters_read = g.ParameterCount,
                        inputs = g.Inputs.Select(i => new { name = i.Name, type = i.Type.ToString() }),
                        outputs = g.Outputs.Select(o => new { name = o.Name, type = o.Type.ToString() }),
                        default_config = JsonSerializer.Deserialize<JsonElement>(a.DefaultConfigJson),
                    });
                    continue;
                }
                io.Human.MarkupLine($"[bold]{Markup.Escape(a.Name)}[/]: {Markup.Escape(a.Paradigm)}");
                io.Human.MarkupLine($"  checkpoint keys: {Markup.Escape(string.Join(", ", keys))}");
                io.Human.MarkupLine($"  default: {g.ParameterCount:N0} parameters read, " +
                    $"inputs {Markup.Escape(string.Join(", ", g.Inputs.Select(i => $"{i.Name} {i.Type}")))}");
                io.Human.MarkupLine($"  outputs: {Markup.Escape(string.Join(", ", g.Outputs.Select(o => $"{o.Name} {o.Type}")))}");
            }
            if (io.Json) io.WriteJson(new { architectures = rows });
            else PrintVariants();
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The released variants, each built from its config.json fields (no weights), with the graph's parameter count.</summary>
    private static void PrintVariants()
    {
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine(
            "[bold]released variants[/] (export --checkpoint DIR reads DIR/config.json; --arch and --config are optional):");
        foreach (var v in Graphs.Architectures.HfConfig.ReleasedVariants.All)
        {
            string count = v.VisionParameters().ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
            // Plain lines (no console wrapping): one variant per line, greppable.
            Console.WriteLine($"  {v.Name} ({v.Family}): {count} parameters read; {v.Tower} [config: {v.Source.Split(':')[0]}]");
        }
    }
}
