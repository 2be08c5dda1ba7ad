using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using ModelForge.Validators.Parity;

namespace ModelForge.Validators.Reports;

/// <summary>Machine-readable forms of a <see cref="ValidationReport"/>: JSON and JUnit XML, written atomically.</summary>
public static class ReportWriters
{
    public static void WriteJson(ValidationReport report, string path) =>
        WriteAtomically(path, JsonSerializer.Serialize(Document(report), new JsonSerializerOptions { WriteIndented = true }) + "\n");

    /// <summary>The report as a JSON-serialisable object (the --report file and `validate --json`).</summary>
    public static object Document(ValidationReport report) => new
    {
        subject = report.Subject,
        architecture = report.Architecture,
        device = report.Device,
        precision = report.Precision,
        passed = report.Passed,
        nothing_compared = report.NothingCompared,
        tolerances = report.Tolerances,
        cases = report.Cases.Select(c => new
        {
            name = c.Case,
            passed = c.Passed,
            skipped = c.Skipped,
        notes = c.Notes,
            first_divergence = c.FirstDivergence,
            seconds = c.Seconds,
            arbiter = c.Arbiter?.Select(v => new
            {
                output = v.Output,
                max_abs_from_fp64 = v.MaxAbsFromFp64.ToDictionary(kv => kv.Key, kv => Finite(kv.Value)),
                mean_abs_from_fp64 = v.MeanAbsFromFp64.ToDictionary(kv => kv.Key, kv => Finite(kv.Value)),
                nearest = v.Nearest,
                outlier = v.Outlier,
            }),
            outputs = c.Outputs.Select(o => new
            {
                output = o.Output,
                comparison = o.Comparison,
                passed = o.Result.Passed,
                failure = o.Result.Failure,
                waived = o.Waived,
                informational = o.Informational,
                elements = o.Result.Elements,
                max_abs = Finite(o.Result.MaxAbs),
                max_rel = Finite(o.Result.MaxRel),
                mean_abs = Finite(o.Result.MeanAbs),
                cosine = Finite(o.Result.Cosine),
                nmse = Finite(o.Result.Nmse),
                out_of_tolerance = Finite(o.Result.OutOfToleranceShare),
            }),
        }),
    };

    /// <summary>One JUnit test case per case x comparison x output; failures carry the metric line.</summary>
    public static void WriteJunit(ValidationReport report, string path)
    {
        var all = report.AllOutputs.ToArray();
        var suites = report.Cases.Select(c => new XElement("testsuite",
            new XAttribute("name", $"{report.Subject}.{c.Case}"),
            new XAttribute("tests", c.Outputs.Count + (c.Skipped is null ? 0 : 1)),
            new XAttribute("failures", c.Outputs.Count(o => !o.Ok)),
            new XAttribute("errors", 0),
            new XAttribute("skipped", c.Skipped is null ? 0 : 1),
            new XAttribute("time", Num(c.Seconds.Values.Sum())),
            c.Skipped is null ? null : new XElement("testcase", new XAttribute("classname", $"{report.Subject}.{c.Case}"),
                new XAttribute("name", "case"), new XElement("skipped", new XAttribute("message", c.Skipped))),
            c.Outputs.Select(o => new XElement("testcase",
                new XAttribute("classname", $"{report.Subject}.{c.Case}"),
                new XAttribute("name", $"{o.Comparison}: {o.Output}"),
                new XAttribute("time", "0"),
                o.Ok ? null : new XElement("failure", new XAttribute("message", o.Result.Failure ?? "failed"), Metrics(o.Result))))));
        var root = new XElement("testsuites",
            new XAttribute("name", $"modelforge validate {report.Subject}"),
            new XAttribute("tests", all.Length),
            new XAttribute("failures", all.Count(o => !o.Ok)),
            suites);
        WriteAtomically(path, new XDocument(new XDeclaration("1.0", "utf-8", null), root).ToString() + "\n");
    }

    public static string Metrics(ComparisonResult r) =>
        $"max_abs={Num(r.MaxAbs)} max_rel={Num(r.MaxRel)} mean_abs={Num(r.MeanAbs)} cosine={Num(r.Cosine)} nmse={Num(r.Nmse)} " +
        $"out_of_tol={Num(r.OutOfToleranceShare)}";

    private static string Num(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static void WriteAtomically(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null) Directory.CreateDirectory(dir);
        string tmp = $"{full}.partial-{Environment.ProcessId}";
        File.WriteAllText(tmp, text);
        File.Move(tmp, full, overwrite: true);
    }
}
