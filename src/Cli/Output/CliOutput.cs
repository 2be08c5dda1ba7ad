using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace ModelForge.Cli.Output;

/// <summary>
/// The one place a command decides where its output goes; every command (and new ones: bench, compare, ...) should
/// write through it instead of <see cref="AnsiConsole"/> or <see cref="Console"/> directly:
/// <list type="bullet">
/// <item><see cref="Human"/>: tables and markup for people. stdout normally; stderr when the command was given --json,
/// so stdout then carries exactly one JSON document (<see cref="WriteJson"/>) and nothing else.</item>
/// <item>Width: on a terminal the terminal's width; when the stream is redirected (a pipe, a file, CI logs) no wrapping or
/// truncation at all (Spectre.Console would otherwise wrap at 80 columns); COLUMNS, when set, wins in both cases.
/// Colour follows Spectre's detection (NO_COLOR is honoured) and is off when redirected.</item>
/// <item><see cref="Phase"/>: progress of a long step, on stderr: a live line with elapsed time on a terminal, timestamped
/// start/done lines otherwise; the durations are kept for the summary (<see cref="Phases"/>).</item>
/// </list>
/// </summary>
public sealed class CliOutput
{
    /// <summary>The largest width used when nothing limits it: wide enough that no table row or tensor name wraps.</summary>
    public const int UnlimitedWidth = 4096;

    /// <summary>Phases shorter than this get no end line in a log (their time is in the summary).</summary>
    private const double LoggedEndSeconds = 1.0;

    private readonly List<(string Name, double Seconds)> _phases = [];
    private IDisposable? _step;

    /// <param name="json">The command prints one JSON document on stdout: human text moves to stderr.</param>
    public CliOutput(bool json)
    {
        Json = json;
        bool humanToStderr = json;
        Human = Create(humanToStderr ? Console.Error : Console.Out, humanToStderr ? Console.IsErrorRedirected : Console.IsOutputRedirected);
        Error = Create(Console.Error, Console.IsErrorRedirected);
        StderrIsTerminal = !Console.IsErrorRedirected;
    }

    /// <summary>Whether stdout is reserved for one JSON document.</summary>
    public bool Json { get; }

    /// <summary>Where people-facing text goes (stdout, or stderr with --json).</summary>
    public IAnsiConsole Human { get; }

    /// <summary>stderr, with the same width rules.</summary>
    public IAnsiConsole Error { get; }

    /// <summary>Whether stderr is a terminal (live progress) or a pipe/file (timestamped lines).</summary>
    public bool StderrIsTerminal { get; }

    /// <summary>Time per finished phase (by category), in order; repeats are summed in <see cref="PhaseSummary"/>.</summary>
    public IReadOnlyList<(string Name, double Seconds)> Phases => _phases;

    /// <summary>JSON options of every --json document: indented, numbers as numbers, no \u escapes of '+', '&lt;' or non-ASCII.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes the command's one JSON document to stdout (only call once, only with --json).</summary>
    public void WriteJson(object document)
    {
        Console.Out.Write(JsonSerializer.Serialize(document, JsonOptions));
        Console.Out.Write('\n');
        Console.Out.Flush();
    }

    /// <summary>A grey progress/log line (to stderr with --json, else to stdout as before).</summary>
    public void Note(string text) => Human.MarkupLine($"[grey]{Markup.Escape(text)}[/]");

    /// <summary>
    /// Starts a timed phase; dispose to end it. Terminal: one live line "name ... 3.4 s" redrawn in place, then a final
    /// "name: 12.3 s" line. Pipe/file: "[HH:mm:ss.fff] name ..." at the start and, for phases of a second or more,
    /// "[HH:mm:ss.fff] name: done in 12.3 s" at the end (the next start line marks the end of a short one).
    /// </summary>
    /// <param name="name">What the line says, e.g. "case2: reference (TorchSharp, fp32)".</param>
    /// <param name="category">What the summary sums it under, e.g. "reference" (default: the name).</param>
    public IDisposable Phase(string name, string? category = null) => new PhaseScope(this, name, category ?? name);

    /// <summary>
    /// Ends the current step (if any) and starts the next: for code that reports progress as a sequence of messages
    /// (an <see cref="Action{T}"/> of string, as ExportPipeline and ParityRunner take). "category: detail" messages are
    /// summed under the text before the first ": ".
    /// </summary>
    public void Step(string message)
    {
        _step?.Dispose();
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        _step = Phase(message, colon > 0 ? message[..colon] : message);
    }

    /// <summary>Ends the step started by <see cref="Step"/>.</summary>
    public void EndStep()
    {
        _step?.Dispose();
        _step = null;
    }

    /// <summary>"export 12.1 s, session 3.0 s, ..." (phases of the same name summed, in first-seen order).</summary>
    public string PhaseSummary() => string.Join(", ", _phases.GroupBy(p => p.Name)
        .Select(g => $"{g.Key} {g.Sum(p => p.Seconds).ToString("F2", CultureInfo.InvariantCulture)} s"));

    /// <summary>The phases as a JSON-friendly map name -> seconds (repeats summed).</summary>
    public IReadOnlyDictionary<string, double> PhaseSeconds() =>
        _phases.GroupBy(p => p.Name).ToDictionary(g => g.Key, g => Math.Round(g.Sum(p => p.Seconds), 3));

    /// <summary>Records a phase measured elsewhere (e.g. inside the parity runner).</summary>
    public void AddPhase(string name, double seconds) => _phases.Add((name, seconds));

    private static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        console.Profile.Width = Width(redirected, console.Profile.Width);
        return console;
    }

    /// <summary>COLUMNS if set and valid; else the terminal's width; else (redirected) no limit.</summary>
    public static int Width(bool redirected, int terminalWidth)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), NumberStyles.None, CultureInfo.InvariantCulture, out int c)
            && c >= 20)
            return Math.Min(c, UnlimitedWidth);
        return redirected ? UnlimitedWidth : terminalWidth;
    }

    private static string Stamp() => DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    private sealed class PhaseScope : IDisposable
    {
        private static readonly object Gate = new();
        private readonly CliOutput _owner;
        private readonly string _name;
        private readonly string _category;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Timer? _ticker;
        private bool _done;

        public PhaseScope(CliOutput owner, string name, string category)
        {
            _owner = owner;
            _name = name;
            _category = category;
            if (owner.StderrIsTerminal)
                _ticker = new Timer(_ => Redraw(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
            else
                Console.Error.WriteLine($"[{Stamp()}] {name} ...");
        }

        private void Redraw()
        {
            lock (Gate)
            {
                if (_done) return;
                Console.Error.Write($"\r\u001b[2K{_name} ... {_clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
            }
        }

        public void Dispose()
        {
            lock (Gate)
            {
                if (_done) return;
                _done = true;
            }
            _ticker?.Dispose();
            double s = _clock.Elapsed.TotalSeconds;
            _owner._phases.Add((_category, s));
            string took = s.ToString("F2", CultureInfo.InvariantCulture);
            lock (Gate)
            {
                if (_owner.StderrIsTerminal) Console.Error.WriteLine($"\r\u001b[2K{_name}: {took} s");
                else if (s >= LoggedEndSeconds) Console.Error.WriteLine($"[{Stamp()}] {_name}: done in {took} s");
            }
        }
    }
}
