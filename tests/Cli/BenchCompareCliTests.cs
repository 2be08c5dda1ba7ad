using System.Diagnostics;
using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>`modelforge bench` and `modelforge compare` as a user runs them (real CLI process, real ONNX Runtime).</summary>
public sealed class BenchCompareCliTests
{
    [Fact]
    public void Compare_runs_without_a_checkpoint_in_under_a_minute_and_writes_table_json_and_plots()
    {
        using var tmp = new TempDir();
        var clock = Stopwatch.StartNew();
        var r = Support.Cli.Run(TimeSpan.FromMinutes(2), "compare", "--page", "512,1024,2048,4096", "--out", tmp.Path);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromMinutes(1));
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("qwen2vl").And.Contain("16,384").And.Contain("claim");
        foreach (var f in new[] { "compare.md", "compare.json", "tokens.png", "tokens.svg", "flops.png", "flops.svg", "activation.png",
            "activation.svg" })
            new FileInfo(Path.Combine(tmp.Path, f)).Length.Should().BeGreaterThan(1000, f);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "compare.json")));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        rows.Should().HaveCount(20);   // 5 entries x 4 pages
        var q4096 = rows.Single(x => x.GetProperty("family").GetString() == "qwen2vl" && x.GetProperty("width").GetInt32() == 4096);
        q4096.GetProperty("tokens").GetInt64().Should().Be(16384);
        q4096.GetProperty("activation_peak_bytes").GetInt64()
            .Should().BeGreaterThan(q4096.GetProperty("activation_peak_efficient_bytes").GetInt64() * 100);
        File.ReadAllText(Path.Combine(tmp.Path, "compare.md"))
            .Should().Contain("| deepencoder-gundam | 4096 | 693 |").And.Contain("![activation](activation.png)");
        // PNG signature: the plots really are images.
        File.ReadAllBytes(Path.Combine(tmp.Path, "tokens.png")).Take(4).Should().Equal(0x89, 0x50, 0x4E, 0x47);
    }

    [Theory]
    [InlineData("--ep", "cuda", "--ep cuda: ")] // the CPU flavour: no CUDAExecutionProvider (ExecutionProviderTests: the whole line)
    [InlineData("--dim", "T", "--dim T: expected NAME=VALUE")]
    [InlineData("--iterations", "0", "--iterations 0")]
    public void Bench_rejects_bad_options_with_one_line_and_exit_2(string option, string value, string message)
    {
        var r = Support.Cli.Run("bench", Path.Combine(Repo.Root, "does-not-matter.onnx"), option, value);
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(message);
    }

    [Fact]
    public void Compare_rejects_unknown_families_and_bad_pages()
    {
        var r = Support.Cli.Run("compare", "--families", "deepencoder,clip", "--out", Path.GetTempPath());
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("unknown family 'clip'");
        r = Support.Cli.Run("compare", "--page", "512,huge", "--out", Path.GetTempPath());
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("--page huge");
    }

    [Fact]
    public void Bench_times_an_export_folder_and_reports_ordered_percentiles_and_memory()
    {
        using var tmp = new TempDir();
        string dir = Repo.Golden("deepencoder-tiny");
        var export = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(dir, "model.safetensors"),
            "--config", Path.Combine(dir, "fixture.json"), "--mode", "gundam", "--out", tmp.File("a"));
        export.ExitCode.Should().Be(0, export.ToString());
        var r = Support.Cli.Run("bench", tmp.File("a"), "--json", "--iterations", "7", "--warmup", "1", "--dim", "T=3", "--threads", "1");
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("session created");
        using var doc = JsonDocument.Parse(r.Stdout);
        var parts = doc.RootElement.EnumerateArray().ToArray();
        parts.Should().HaveCount(2, "global and local parts of the gundam export");
        foreach (var p in parts)
        {
            var l = p.GetProperty("latency");
            l.GetProperty("runs").GetInt32().Should().Be(7);
            var seq = new[] { "min_ms", "median_ms", "p90_ms", "p99_ms", "max_ms" }.Select(k => l.GetProperty(k).GetDouble()).ToArray();
            seq.Should().BeInAscendingOrder().And.OnlyContain(v => v > 0);
            p.GetProperty("session_seconds").GetDouble().Should().BeGreaterThan(0);
            p.GetProperty("memory").GetProperty("peak_during_runs").GetInt64()
                .Should().BeGreaterThanOrEqualTo(p.GetProperty("memory").GetProperty("rss_before_runs").GetInt64());
        }
        parts.Single(p => p.GetProperty("model").GetString()!.EndsWith("local.onnx", StringComparison.Ordinal))
            .GetProperty("input_shapes").GetProperty("pixel_values").GetString().Should().StartWith("[3, 3,");
    }

    [Fact]
    public void Bench_reference_times_the_TorchSharp_path_on_the_same_graph_and_inputs()
    {
        using var tmp = new TempDir();
        string dir = Repo.Golden("deepencoder-tiny");
        string ckpt = Path.Combine(dir, "model.safetensors");
        var export = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", ckpt, "--config", Path.Combine(dir, "fixture.json"),
            "--out", tmp.File("a"));
        export.ExitCode.Should().Be(0, export.ToString());
        var r = Support.Cli.Run("bench", tmp.File("a"), "--reference", "--checkpoint", ckpt, "--json", "--iterations", "3", "--batch", "2");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var results = doc.RootElement.EnumerateArray().ToArray();
        results.Select(x => x.GetProperty("provider").GetString()).Should().Equal("cpu", "torchsharp-cpu");
        results.Select(x => x.GetProperty("input_shapes").GetProperty("pixel_values").GetString())
            .Should().OnlyContain(s => s == "[2, 3, 256, 256]");
        results.Should().OnlyContain(x => x.GetProperty("latency").GetProperty("runs").GetInt32() == 3);
    }

    [Fact]
    public void Compare_on_an_image_uses_its_size()
    {
        using var tmp = new TempDir();
        // A 1024x1024 PNG (the golden padded global view of a 1600x900 page): --image takes the size from the file.
        var png = Repo.Golden("preprocess/dsocr_wide_1600x900_base_global.png");
        var r = Support.Cli.Run("compare", "--image", png, "--json", "--out", tmp.Path);
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        rows.Should().OnlyContain(x => x.GetProperty("width").GetInt32() == 1024 && x.GetProperty("height").GetInt32() == 1024,
            "the file is 1024x1024");
        rows.Should().HaveCount(5);
    }

    [Fact]
    public void Bench_takes_inputs_from_a_safetensors_file_and_names_a_missing_tensor()
    {
        using var tmp = new TempDir();
        string dir = Repo.Golden("deepencoder-tiny");
        var export = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(dir, "model.safetensors"),
            "--config", Path.Combine(dir, "fixture.json"), "--out", tmp.File("a"));
        export.ExitCode.Should().Be(0, export.ToString());
        var pixels = new float[3 * 3 * 256 * 256];
        ModelForge.Converters.Checkpoints.SafetensorsWriter.Write(tmp.File("in.safetensors"),
            [new ModelForge.Converters.Checkpoints.WritableTensor("pixel_values", ModelForge.Graphs.Ir.DataType.Float32, [3, 3, 256, 256],
                () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray())]);
        var r = Support.Cli.Run("bench", tmp.File("a"), "--inputs", tmp.File("in.safetensors"), "--iterations", "2", "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        doc.RootElement[0].GetProperty("input_shapes").GetProperty("pixel_values").GetString().Should().Be("[3, 3, 256, 256]");
        doc.RootElement[0].GetProperty("batch").GetInt64().Should().Be(1, "throughput is per --batch (or --dim B/T), here 1: per run");

        ModelForge.Converters.Checkpoints.SafetensorsWriter.Write(tmp.File("wrong.safetensors"),
            [new ModelForge.Converters.Checkpoints.WritableTensor("images", ModelForge.Graphs.Ir.DataType.Float32, [1],
                () => new byte[4])]);
        r = Support.Cli.Run("bench", tmp.File("a"), "--inputs", tmp.File("wrong.safetensors"), "--iterations", "1");
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("no tensor named 'pixel_values'");
    }
}
