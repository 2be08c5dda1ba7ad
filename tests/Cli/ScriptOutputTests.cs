using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>
/// Output scripts and CI can trust (issue 9): no wrapping when stdout is a pipe, COLUMNS honoured, --json prints one JSON
/// document on stdout (parsed here with System.Text.Json) and human text on stderr, typos get "did you mean", cheap
/// checks come before any work, and long steps print timestamped phase lines to stderr.
/// </summary>
public sealed class ScriptOutputTests : IClassFixture<ScriptOutputTests.Artifact>
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string TinyCkpt = Path.Combine(TinyDir, "model.safetensors");
    private static readonly string TinyConfig = Path.Combine(TinyDir, "fixture.json");
    private static readonly string Png = Repo.Fixture("golden", "preprocess", "wide_1600x900.png");
    private static readonly Dictionary<string, string?> NoColumns = new() { ["COLUMNS"] = null };

    /// <summary>One plain tiny export (Base at 256 px) shared by the tests.</summary>
    public sealed class Artifact : IDisposable
    {
        public TempDir Dir { get; } = new();

        public string Path => Dir.File("artifact");

        public Artifact()
        {
            var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--out", Path);
            r.ExitCode.Should().Be(0, r.ToString());
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Artifact _artifact;

    public ScriptOutputTests(Artifact artifact) => _artifact = artifact;

    private static JsonDocument OneDocument(CliResult r)
    {
        // The whole of stdout must be one JSON document: Parse fails on anything before or after it.
        var doc = JsonDocument.Parse(r.Stdout);
        return doc;
    }

    [Fact]
    public void Inspect_into_a_pipe_keeps_every_tensor_row_on_one_line()
    {
        // No COLUMNS: the CLI sees a redirected stdout and must not wrap at 80 (Spectre's default when redirected).
        var r = Support.Cli.RunWithEnv(NoColumns, "inspect", TinyCkpt);
        r.ExitCode.Should().Be(0, r.ToString());
        using var file = ModelForge.Converters.Checkpoints.SafetensorsFile.Open(TinyCkpt);
        string longest = file.Tensors.Select(t => t.Name).MaxBy(n => n.Length)!;
        longest.Length.Should().BeGreaterThan(40);
        // `grep NAME`: the full name and its shape on the same line.
        var hit = r.Stdout.Split('\n').Where(l => l.Contains(longest, StringComparison.Ordinal)).ToArray();
        hit.Should().ContainSingle(r.Stdout);
        var info = file.Tensors.Single(t => t.Name == longest);
        hit[0].Should().Contain("[" + string.Join(", ", info.Shape) + "]");
        r.Stdout.Split('\n').Max(l => l.Length).Should().BeGreaterThan(80, "rows are as wide as they need to be");

        // COLUMNS, when set, is honoured: at 60 columns the same name no longer fits one row.
        var narrow = Support.Cli.RunWithEnv(new Dictionary<string, string?> { ["COLUMNS"] = "60" }, "inspect", TinyCkpt);
        narrow.Stdout.Split('\n').Max(l => l.Length).Should().BeLessThanOrEqualTo(60);
    }

    [Fact]
    public void Archs_json_is_one_document_with_numbers()
    {
        var r = Support.Cli.RunWithEnv(NoColumns, "archs", "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = OneDocument(r);
        var archs = doc.RootElement.GetProperty("architectures").EnumerateArray().ToArray();
        archs.Select(a => a.GetProperty("name").GetString()).Should().Contain(["deepencoder", "vary", "internvl2", "qwen2vl"]);
        var de = archs.Single(a => a.GetProperty("name").GetString() == "deepencoder");
        de.GetProperty("parameters_read").ValueKind.Should().Be(JsonValueKind.Number);
        de.GetProperty("default_config").GetProperty("sam").GetProperty("image_size").GetInt32().Should().Be(1024);
    }

    [Fact]
    public void Inspect_json_lists_the_tensors_and_the_family()
    {
        var r = Support.Cli.Run("inspect", TinyCkpt, "--json", "--filter", "attn.proj.weight");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = OneDocument(r);
        doc.RootElement.GetProperty("family").GetString().Should().Be("deepencoder");
        var tensors = doc.RootElement.GetProperty("tensors").EnumerateArray().ToArray();
        tensors.Should().NotBeEmpty().And.OnlyContain(t => t.GetProperty("name").GetString()!.Contains("attn.proj.weight"));
        tensors[0].GetProperty("shape").EnumerateArray().Should().OnlyContain(d => d.ValueKind == JsonValueKind.Number);

        var onnx = Support.Cli.Run("inspect", Path.Combine(_artifact.Path, "model.onnx"), "--json");
        using var o = OneDocument(onnx);
        o.RootElement.GetProperty("opset").GetInt32().Should().Be(17);
        o.RootElement.GetProperty("outputs").EnumerateArray().Select(x => x.GetProperty("name").GetString())
            .Should().Contain("global_view_tokens");
    }

    [Fact]
    public void Export_json_goes_to_stdout_and_phase_lines_to_stderr()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--out", tmp.File("a"),
            "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = OneDocument(r);
        doc.RootElement.GetProperty("parts")[0].GetProperty("name").GetString().Should().Be("model");
        doc.RootElement.GetProperty("bytes").GetInt64().Should().Be(Directory.GetFiles(tmp.File("a")).Sum(f => new FileInfo(f).Length));
        doc.RootElement.GetProperty("phases").EnumerateObject().Select(p => p.Name)
            .Should().Contain(["open", "build", "write", "manifest"]);
        // Redirected stderr: one timestamped start line per phase.
        r.ProgressLines.Should().Contain(l => l.Contains("write: model.onnx"));
        r.ProgressLines.Should().Contain(l => l.Contains("open: checkpoint"));
    }

    [Fact]
    public void Run_json_reports_tokens_and_validate_json_the_report()
    {
        using var tmp = new TempDir();
        var run = Support.Cli.Run("run", "--onnx", _artifact.Path, "--image", Png, "--out", tmp.File("t.safetensors"), "--json");
        run.ExitCode.Should().Be(0, run.ToString());
        using (var doc = OneDocument(run))
        {
            doc.RootElement.GetProperty("tokens").GetInt64().Should().Be(21);
            doc.RootElement.GetProperty("mode").GetString().Should().Be("base");
            doc.RootElement.GetProperty("phases").EnumerateObject().Select(p => p.Name)
                .Should().Contain(["preprocess", "session", "inference", "write"]);
        }

        var v = Support.Cli.Run("validate", "--fixture", TinyDir, "--onnx", _artifact.Path, "--no-traces", "--json");
        v.ExitCode.Should().Be(0, v.ToString());
        using var vd = OneDocument(v);
        vd.RootElement.GetProperty("exit_code").GetInt32().Should().Be(0);
        var report = vd.RootElement.GetProperty("report");
        report.GetProperty("passed").GetBoolean().Should().BeTrue();
        var maxAbs = report.GetProperty("cases").EnumerateArray().Where(c => c.GetProperty("skipped").ValueKind == JsonValueKind.Null)
            .SelectMany(c => c.GetProperty("outputs").EnumerateArray()).Select(o => o.GetProperty("max_abs").GetDouble()).ToArray();
        maxAbs.Should().NotBeEmpty().And.OnlyContain(x => x < 1e-4);
        v.Stderr.Should().Contain("PASS", "human text goes to stderr with --json");
    }

    [Fact]
    public void Errors_with_json_are_one_json_document_too()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("inspect", tmp.File("absent.safetensors"), "--json");
        r.ExitCode.Should().Be(2, r.ToString());
        using var doc = OneDocument(r);
        doc.RootElement.GetProperty("exit_code").GetInt32().Should().Be(2);
        doc.RootElement.GetProperty("error").GetString().Should().Contain("absent.safetensors");
    }

    [Theory]
    [InlineData(new[] { "archs", "--jsn" }, "did you mean --json?")]
    [InlineData(new[] { "achs" }, "did you mean archs?")]
    [InlineData(new[] { "validate", "--fixture", "x", "--chek-error-stat", "max" }, "did you mean --check-error-stat?")]
    [InlineData(new[] { "export", "--arch", "deepencodr", "--checkpoint", "x", "--out", "y" }, "did you mean deepencoder?")]
    [InlineData(new[] { "export", "--arch", "deepencoder", "--checkpoint", "x", "--out", "y", "--mode", "gundum" }, "did you mean gundam?")]
    [InlineData(new[] { "export", "--arch", "deepencoder", "--checkpoint", "x", "--out", "y", "--target", "onx" }, "did you mean onnx?")]
    [InlineData(new[] { "validate", "--fixture", "x", "--precision", "fq64" }, "did you mean fp64?")]
    public void Typos_get_did_you_mean(string[] args, string hint)
    {
        var r = Support.Cli.Run(args);
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(hint);
    }

    [Fact]
    public void Opset_and_existing_out_are_refused_before_the_checkpoint_is_opened()
    {
        using var tmp = new TempDir();
        // The checkpoint does not exist: an error about it would mean the work started before the cheap checks.
        var opset = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", tmp.File("none.safetensors"), "--out", tmp.File("o"),
            "--opset", "12");
        opset.ExitCode.Should().Be(2);
        opset.Errors.Should().Contain("--opset 12").And.NotContain("none.safetensors");
        opset.ProgressLines.Should().BeEmpty();
        Directory.CreateDirectory(tmp.File("exists"));
        var exists = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", tmp.File("none.safetensors"), "--out",
            tmp.File("exists"));
        exists.ExitCode.Should().Be(2);
        exists.Errors.Should().Contain("already exists").And.Contain("--force").And.NotContain("none.safetensors");
        exists.ProgressLines.Should().BeEmpty();
    }
}
