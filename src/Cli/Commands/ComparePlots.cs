using ScottPlot;

namespace ModelForge.Cli.Commands;

/// <summary>
/// Line charts of one quantity against page size, one line per family entry, PNG and SVG (ScottPlot 5, rendered
/// headless through SkiaSharp). Pages go on a log2 axis; values on a log10 axis when they span more than 20x.
/// </summary>
public static class ComparePlots
{
    /// <summary>One plotted line: label, (page side, value) points, dashed or solid.</summary>
    public sealed record Series(string Label, IReadOnlyList<(double Page, double Value)> Points, bool Dashed = false);

    private static readonly Color[] Palette =
        [Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#ff7f0e"), Color.FromHex("#9467bd"),
         Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#17becf")];

    /// <summary>Writes stem.png and stem.svg; returns the two paths. <paramref name="notes"/> are printed inside the plot.</summary>
    public static IReadOnlyList<string> Write(string stem, string title, string yLabel, IReadOnlyList<Series> series,
        IReadOnlyList<string>? notes = null)
    {
        var all = series.SelectMany(s => s.Points).Where(p => p.Value > 0).ToArray();
        if (all.Length == 0) return [];
        bool log = all.Max(p => p.Value) / all.Min(p => p.Value) > 20;
        var plt = new Plot();
        UseSystemFont(plt);
        var colours = new Dictionary<string, Color>();
        foreach (var s in series)
        {
            var pts = s.Points.Where(p => p.Value > 0).ToArray();
            if (pts.Length == 0) continue;
            string family = s.Label.Split(' ')[0];
            if (!colours.TryGetValue(family, out var colour)) colours[family] = colour = Palette[colours.Count % Palette.Length];
            var line = plt.Add.Scatter(pts.Select(p => Math.Log2(p.Page)).ToArray(),
                pts.Select(p => log ? Math.Log10(p.Value) : p.Value).ToArray());
            line.LegendText = s.Label;
            line.Color = colour;
            line.LineWidth = 2;
            line.MarkerSize = 7;
            if (s.Dashed) line.LinePattern = LinePattern.Dashed;
        }
        var pages = all.Select(p => p.Page).Distinct().OrderBy(p => p).ToArray();
        var xTicks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var p in pages) xTicks.AddMajor(Math.Log2(p), p.ToString("0", System.Globalization.CultureInfo.InvariantCulture));
        plt.Axes.Bottom.TickGenerator = xTicks;
        if (log)
        {
            var yTicks = new ScottPlot.TickGenerators.NumericManual();
            int lo = (int)Math.Floor(Math.Log10(all.Min(p => p.Value))), hi = (int)Math.Ceiling(Math.Log10(all.Max(p => p.Value)));
            for (int e = lo; e <= hi; e++)
            {
                yTicks.AddMajor(e, Pow10Label(e));
                for (int m = 2; m < 10 && e < hi; m++) yTicks.AddMinor(e + Math.Log10(m));
            }
            plt.Axes.Left.TickGenerator = yTicks;
            plt.Axes.SetLimitsY(lo - 0.05, hi + 0.05);
        }
        plt.Axes.SetLimitsX(Math.Log2(pages[0]) - 0.25, Math.Log2(pages[^1]) + 0.25);
        plt.Title(title);
        plt.XLabel("page side (px, square page; log scale)");
        plt.YLabel(yLabel + (log ? " (log scale)" : ""));
        plt.ShowLegend(Alignment.UpperLeft);
        if (notes is { Count: > 0 })
        {
            var text = plt.Add.Annotation(string.Join("\n", notes), Alignment.LowerRight);
            text.LabelFontSize = 11;
        }
        string png = stem + ".png", svg = stem + ".svg";
        plt.SavePng(png, 1000, 640);
        plt.SaveSvg(svg, 1000, 640);
        return [png, svg];
    }

    /// <summary>
    /// Headless machines may lack the font ScottPlot asks SkiaSharp for (text then renders empty): use DejaVu Sans from
    /// the file when it is installed (Debian's fonts-dejavu-core), else ScottPlot's default.
    /// </summary>
    private static void UseSystemFont(Plot plt)
    {
        const string name = "DejaVu Sans", file = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        if (!File.Exists(file)) return;
        lock (Palette)
        {
            if (!_fontAdded)
            {
                Fonts.AddFontFile(name, file);
                _fontAdded = true;
            }
        }
        plt.Font.Set(name);
    }

    private static bool _fontAdded;

    private static string Pow10Label(int e) => e switch
    {
        < 0 => Math.Pow(10, e).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        < 3 => Math.Pow(10, e).ToString("0", System.Globalization.CultureInfo.InvariantCulture),
        < 6 => $"{Math.Pow(10, e - 3):0}k",
        < 9 => $"{Math.Pow(10, e - 6):0}M",
        < 12 => $"{Math.Pow(10, e - 9):0}G",
        _ => $"{Math.Pow(10, e - 12):0}T",
    };
}
