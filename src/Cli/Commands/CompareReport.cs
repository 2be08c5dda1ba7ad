using System.Globalization;
using System.Text;
using ModelForge.Converters.Compare;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>Everything `compare` found: analytic rows, measurements (optional), the seed's claims checked.</summary>
public sealed record CompareResult(
    string Machine,
    IReadOnlyList<ComparedFamily> Families,
    IReadOnlyList<CompareRow> Rows,
    IReadOnlyList<MeasuredRow>? Measured,
    IReadOnlyList<Claim> Claims,
    IReadOnlyList<SeedFigure> SeedFigures);

/// <summary>Console table, Markdown and JSON views of a <see cref="CompareResult"/>.</summary>
public static class CompareReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Mb(long bytes) => (bytes / 1048576.0).ToString(bytes >= 10L << 20 ? "N0" : "N1", Inv);

    public static string GFlops(double flops) => (flops / 1e9).ToString(flops >= 1e10 ? "N0" : "N1", Inv);

    private static MeasuredRow? MeasuredFor(CompareResult r, CompareRow row)
        => r.Measured?.FirstOrDefault(m => m.Family == row.Family && m.Page == row.Page);

    /// <summary>Model error against the measurement: (model - measured) / measured, of the activation peak.</summary>
    public static double? ModelError(CompareRow row, MeasuredRow? m) =>
        m?.RunIncreaseBytes is { } measured && measured > 0 ? (row.ActivationPeakBytes - (double)measured) / measured : null;

    private static string[] Header(bool measured) =>
    [
        "family", "page", "tokens", "layout", "params (M)", "GFLOPs", "act. peak MB (scores kept)", "act. peak MB (mem-efficient)",
        .. measured ? new[] { "CPU latency ms (median)", "CPU run peak +MB", "model error" } : [],
    ];

    private static string[] Cells(CompareResult r, CompareRow row)
    {
        var cells = new List<string>
        {
            row.Family, row.Page, row.Tokens.ToString("N0", Inv), row.Layout, (row.Parameters / 1e6).ToString("N0", Inv), GFlops(row.Flops),
            Mb(row.ActivationPeakBytes), Mb(row.ActivationPeakEfficientBytes),
        };
        if (r.Measured is not null)
        {
            var m = MeasuredFor(r, row);
            if (m?.Skipped is { } why) cells.AddRange(["skipped", why, ""]);
            else
            {
                cells.Add(m?.LatencyMs is { } l ? l.ToString("N0", Inv) : "");
                cells.Add(m?.RunIncreaseBytes is { } b ? Mb(b) : "");
                cells.Add(ModelError(row, m) is { } e ? e.ToString("+0%;-0%", Inv) : "");
            }
        }
        return cells.ToArray();
    }

    public static void PrintConsole(CompareResult r)
    {
        // The layout column (index 3) is long: it is in compare.md, not in the terminal table.
        var t = new Table();
        foreach (var h in Header(r.Measured is not null).Where((_, i) => i != 3)) t.AddColumn(Markup.Escape(h));
        foreach (var row in r.Rows) t.AddRow(Cells(r, row).Where((_, i) => i != 3).Select(Markup.Escape).ToArray());
        AnsiConsole.Write(t);
        foreach (var c in r.Claims) AnsiConsole.MarkupLine($"[bold]claim[/] {Markup.Escape(c.Quote)}: {Markup.Escape(c.Verdict)}");
    }

    public static string Markdown(CompareResult r, IReadOnlyList<string> plots)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Four vision-encoder paradigms, side by side").AppendLine();
        sb.AppendLine($"Released configurations, square pages, fp32 (ONNX Runtime CPU's precision; bf16 halves every byte figure). " +
            $"Machine: {r.Machine}.").AppendLine();
        sb.AppendLine("Tokens come from each family's own preprocessing and tiling rule; FLOPs from the per-op cost model over the IR "
            + "(2 per multiply-add, elementwise work counted); activation peaks from a liveness simulation over the IR's execution order, "
            + "once with the attention scores materialized (eager / ONNX Runtime CPU) and once with a memory-efficient attention kernel "
            + "(no [h, S, S] score tensors, no dense mask input). Weights are not included in the activation figures.").AppendLine();
        var header = Header(r.Measured is not null);
        sb.AppendLine("| " + string.Join(" | ", header) + " |");
        sb.AppendLine("|" + string.Concat(header.Select((_, i) => i < 4 ? "---|" : "---:|")));
        foreach (var row in r.Rows)
            sb.AppendLine("| " + string.Join(" | ", Cells(r, row).Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))) + " |");
        sb.AppendLine();
        if (r.Measured is not null)
            sb.AppendLine("Measured: ONNX Runtime CPU, synthetic weights of the released shapes, one child process per graph run; "
                + "latency = sum of the runs' medians; \"run peak +MB\" = resident-memory high-water mark during the runs minus the "
                + "resident memory just before them (activations, arena and scratch; weights excluded); "
                + "model error = (materialized model - measured) / measured.").AppendLine();
        sb.AppendLine("## Token rules").AppendLine();
        foreach (var f in r.Families) sb.AppendLine($"- **{f.Id}**: {f.Rule}");
        sb.AppendLine().AppendLine("## The seed guide's claims, checked").AppendLine();
        foreach (var c in r.Claims) sb.AppendLine($"- *{c.Quote}*: **{c.Verdict}**. {c.Evidence}");
        sb.AppendLine().AppendLine("| seed figure (H100, bf16, measured) | seed | ModelForge | note |").AppendLine("|---|---|---|---|");
        foreach (var s in r.SeedFigures) sb.AppendLine($"| {s.What} | {s.Seed} | {s.ModelForge} | {s.Note} |");
        sb.AppendLine().AppendLine(
            "The seed's latencies were measured on an H100 in bf16; the CPU latencies here are not comparable in absolute terms, " +
            "only as ratios between families.");
        if (plots.Count > 0)
        {
            sb.AppendLine().AppendLine("## Plots").AppendLine();
            foreach (var png in plots.Where(p => p.EndsWith(".png", StringComparison.Ordinal)))
                sb.AppendLine($"![{Path.GetFileNameWithoutExtension(png)}]({Path.GetFileName(png)})");
        }
        sb.AppendLine().AppendLine("## Where the compute and the peak are (per graph run)").AppendLine();
        foreach (var row in r.Rows)
            foreach (var run in row.Runs)
            {
                var top = string.Join(", ", run.Cost.ByScope.OrderByDescending(s => s.Flops).Take(3)
                    .Select(s => $"{s.Scope} {GFlops(s.Flops)}"));
                var live = string.Join(", ", run.Materialized.LiveAtPeak.Take(2).Select(l => $"{l.Name} {l.Shape} {Mb(l.Bytes)} MB"));
                sb.AppendLine($"- {row.Family} @ {row.Page}, {run.Run.Description}: GFLOPs by scope {top}; " +
                    $"peak at `{run.Materialized.PeakNode}` ({live})");
            }
        return sb.ToString();
    }
}
