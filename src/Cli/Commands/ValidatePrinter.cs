using System.Globalization;
using ModelForge.Cli.Output;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Reports;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>The human-readable validate report: one row per case x output, failures in full, the fp64 arbiter's table, a verdict.</summary>
internal static class ValidatePrinter
{
    private static readonly string[] Comparisons = ["exported vs golden", "reference vs golden", "exported vs reference"];

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("0.###e+0", CultureInfo.InvariantCulture) : "-";

    public static void Print(CliOutput io, ValidationReport r)
    {
        var c = io.Human;
        c.MarkupLine($"[bold]{Markup.Escape(r.Subject)}[/] ({Markup.Escape(r.Architecture)}), reference on {r.Device} in {r.Precision}");
        foreach (var (k, v) in r.Tolerances) c.MarkupLine($"  [grey]{Markup.Escape(k)}: {Markup.Escape(v)}[/]");
        var present = Comparisons.Where(x => r.AllOutputs.Any(o => o.Comparison == x)).ToArray();
        if (present.Length > 0)
        {
            var table = new Table().AddColumn("case").AddColumn("output");
            foreach (var x in present)
                table.AddColumn(new TableColumn(x.Replace("exported", "exp").Replace("reference", "ref") + " max abs").RightAligned());
            table.AddColumn("");
            foreach (var group in r.AllOutputs.Where(o => !o.Informational && !o.Output.StartsWith("trace.", StringComparison.Ordinal))
                .GroupBy(o => (o.Case, o.Output)))
            {
                var cells = new List<string> { Markup.Escape(group.Key.Case), Markup.Escape(group.Key.Output) };
                foreach (var x in present)
                    cells.Add(group.FirstOrDefault(o => o.Comparison == x) is { } o
                        ? (o.Ok ? "" : "[red]") + Num(o.Result.MaxAbs) + (o.Ok ? "" : "[/]") : "-");
                cells.Add(group.All(o => o.Result.Passed) ? "[green]pass[/]" : group.All(o => o.Ok) ? "[yellow]waived[/]" : "[red]FAIL[/]");
                table.AddRow(cells.ToArray());
            }
            c.Write(table);
        }
        PrintArbiter(c, r);
        foreach (var o in r.AllOutputs.Where(o => !o.Result.Passed && !o.Informational))
            c.MarkupLine(o.Waived is null
                ? "[red]FAIL[/] " +
                    Markup.Escape($"{o.Case} {o.Comparison} {o.Output}: {o.Result.Failure} ({ReportWriters.Metrics(o.Result)})")
                : $"[yellow]waived[/] {Markup.Escape($"{o.Case} {o.Comparison} {o.Output}: {o.Result.Failure}; {o.Waived}")}");
        foreach (var k in r.Cases)
        {
            int traces = k.Outputs.Count(o => !o.Informational && o.Output.StartsWith("trace.", StringComparison.Ordinal));
            string timing = string.Join(", ", k.Seconds.Select(s => $"{s.Key} {s.Value:F2} s"));
            if (k.Skipped is not null)
            {
                c.MarkupLine($"{Markup.Escape(k.Case)}: {Markup.Escape(k.Skipped)}");
                continue;
            }
            c.MarkupLine($"{Markup.Escape(k.Case)}: {(k.Passed ? "[green]pass[/]" : "[red]FAIL[/]")}, {traces} trace comparisons, " +
                Markup.Escape(timing));
            foreach (var note in k.Notes ?? []) c.MarkupLine($"  [grey]{Markup.Escape(note)}[/]");
            foreach (var (comparison, block) in k.FirstDivergence)
                c.MarkupLine($"  [red]first divergence ({Markup.Escape(comparison)}): {Markup.Escape(block)}[/]");
        }
        if (io.Phases.Count > 0) c.MarkupLine($"time by phase: {Markup.Escape(io.PhaseSummary())}");
        var counted = r.AllOutputs.Where(o => !o.Informational).ToArray();
        int total = counted.Length, failed = counted.Count(o => !o.Ok), waived = counted.Count(o => o.Waived is not null);
        string skipped = r.Cases.Count(k => k.Skipped is not null) is > 0 and var n ? $", {n} of {r.Cases.Count} cases skipped" : "";
        if (r.NothingCompared is not null) c.MarkupLine($"[red]NOTHING COMPARED[/]{Markup.Escape(skipped)}");
        else c.MarkupLine(r.Passed
            ? $"[green]PASS[/] {total} comparisons{(waived > 0 ? $" ({waived} waived: golden outlier)" : "")}{Markup.Escape(skipped)}"
            : $"[red]FAIL[/] {failed} of {total} comparisons out of tolerance{Markup.Escape(skipped)}");
    }

    /// <summary>Golden, exported and reference side by side as distances from the float64 result, and the nearest path.</summary>
    private static void PrintArbiter(IAnsiConsole c, ValidationReport r)
    {
        var verdicts = r.Cases.SelectMany(k => k.Arbiter ?? []).Where(v => !v.Output.StartsWith("trace.", StringComparison.Ordinal))
            .ToArray();
        if (verdicts.Length == 0) return;
        string[] paths = ["golden", "exported", "reference"];
        var shown = paths.Where(p => verdicts.Any(v => v.MaxAbsFromFp64.ContainsKey(p))).ToArray();
        var table = new Table().AddColumn("case").AddColumn("output");
        foreach (var p in shown) table.AddColumn(new TableColumn($"{p} vs fp64 max abs (mean)").RightAligned());
        table.AddColumn("nearest exact").AddColumn("outlier");
        foreach (var v in verdicts)
        {
            var cells = new List<string> { Markup.Escape(v.Case), Markup.Escape(v.Output) };
            foreach (var p in shown)
                cells.Add(v.MaxAbsFromFp64.TryGetValue(p, out double m) ? $"{Num(m)} ({Num(v.MeanAbsFromFp64[p])})" : "-");
            cells.Add(v.Nearest);
            cells.Add(v.Outlier is null ? "-" : $"[yellow]{v.Outlier}[/]");
            table.AddRow(cells.ToArray());
        }
        c.MarkupLine("[bold]fp64 arbiter[/]: each path's distance from the float64 evaluation of the same graph and weights");
        c.Write(table);
    }
}
