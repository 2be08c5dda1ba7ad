using System.Security.Cryptography;
using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Bundles;

/// <summary>
/// `export --target tensorrt` bundles of the tiny DeepEncoder fixture, through the real CLI: real ONNX, real ONNX Runtime
/// and TorchSharp parity, real files. No TensorRT exists here: engines are "not built" (or built by a named stand-in).
/// </summary>
public class TensorRtBundleTests
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");
    private static readonly string Ckpt = Path.Combine(Tiny, "model.safetensors");

    private static string[] ExportArgs(string outDir, params string[] extra) =>
        ["export", "--arch", "deepencoder", "--checkpoint", Ckpt, "--config", Path.Combine(Tiny, "fixture.json"), "--target", "tensorrt",
            "--out", outDir, .. extra];

    private static CliResult Export(string outDir, params string[] extra) => Support.Cli.Run(ExportArgs(outDir, extra));

    private static JsonDocument Manifest(string dir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));

    [Fact]
    public void A_bundle_is_complete_deterministic_and_says_the_engine_is_not_built()
    {
        using var tmp = new TempDir();
        var a = Export(tmp.File("a"), "--precision", "fp16");
        a.ExitCode.Should().Be(0, a.ToString());
        a.Stdout.Should().Contain("engine: not built: no trtexec on PATH").And.Contain("bash build_engine.sh");
        Export(tmp.File("b"), "--precision", "fp16").ExitCode.Should().Be(0);

        string[] Files(string d) => Directory.GetFiles(d, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(d, f))
            .Order(StringComparer.Ordinal).ToArray();
        Files(tmp.File("a")).Should()
            .Equal("README.md", "build_engine.sh", "build_plan.json", "manifest.json", "onnx/manifest.json", "onnx/model.onnx");
        Files(tmp.File("b")).Should().Equal(Files(tmp.File("a")));
        foreach (var f in Files(tmp.File("a")))
            File.ReadAllBytes(Path.Combine(tmp.File("a"), f)).Should().Equal(File.ReadAllBytes(Path.Combine(tmp.File("b"), f)), f);

        using var m = Manifest(tmp.File("a"));
        var root = m.RootElement;
        root.GetProperty("format").GetString().Should().Be("modelforge-bundle/1");
        root.GetProperty("tool").GetProperty("git_commit").GetString().Should().MatchRegex("^([0-9a-f]{40}|unknown)$");
        root.GetProperty("engine").GetProperty("status").GetString().Should().Be("not built");
        root.GetProperty("profiles").GetProperty("B").GetProperty("max").GetInt64().Should().Be(8);
        root.GetProperty("precision").GetProperty("requested").GetString().Should().Be("f16");
        var input = root.GetProperty("parts")[0].GetProperty("inputs")[0];
        input.GetProperty("opt").EnumerateArray().Select(d => d.GetInt64()).Should().Equal(1, 3, 256, 256);
        input.GetProperty("max").EnumerateArray().Select(d => d.GetInt64()).Should().Equal(8, 3, 256, 256);
        // Parity measured at export on the fixture's golden inputs that fit 256 px (case0, case1), against the reference and the goldens.
        var parity = root.GetProperty("parity");
        parity.GetProperty("passed").GetBoolean().Should().BeTrue();
        parity.GetProperty("inputs").GetString().Should().Contain("golden case0").And.Contain("golden case1");
        var comparisons = parity.GetProperty("comparisons").EnumerateArray().ToArray();
        comparisons.Select(c => c.GetProperty("comparison").GetString()).Distinct()
            .Should().BeEquivalentTo("onnx vs reference", "onnx vs golden", "reference vs golden");
        comparisons.Should().OnlyContain(c => c.GetProperty("cosine").GetDouble() > 0.999);
        // Every file's hash; the checkpoint digest over the tensors used.
        foreach (var f in root.GetProperty("files").EnumerateArray())
            Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(tmp.File("a"), f.GetProperty("name").GetString()!))))
                .Should().Be(f.GetProperty("sha256").GetString());
        var ckpt = root.GetProperty("checkpoint");
        ckpt.GetProperty("tensor_sha256").EnumerateObject().Count()
            .Should().Be(ckpt.GetProperty("tensors_used").GetInt32()).And.BeGreaterThan(50);

        File.ReadAllText(tmp.File("a/README.md")).Should().Contain("engine: not built");
        string script = File.ReadAllText(tmp.File("a/build_engine.sh"));
        script.Should().Contain("--onnx=onnx/model.onnx").And.Contain("--minShapes=pixel_values:1x3x256x256")
            .And.Contain("--maxShapes=pixel_values:8x3x256x256")
            .And.Contain("--stronglyTyped").And.Contain("--timingCacheFile=engine/timing.cache").And.Contain("--builderOptimizationLevel=3")
            .And.NotContain("--fp16");
        var check = System.Diagnostics.Process.Start("bash", ["-n", tmp.File("a/build_engine.sh")])!;
        check.WaitForExit();
        check.ExitCode.Should().Be(0);
        // Without TensorRT the script itself says so (exit 2) instead of failing somewhere in the middle.
        var psi = new System.Diagnostics.ProcessStartInfo("bash", [tmp.File("a/build_engine.sh")]) { RedirectStandardError = true };
        psi.Environment["TRTEXEC"] = "/nonexistent/trtexec";
        using var run = System.Diagnostics.Process.Start(psi)!;
        run.StandardError.ReadToEnd().Should().Contain("not found");
        run.WaitForExit();
        run.ExitCode.Should().Be(2);
    }

    [Fact]
    public void Inspect_verifies_every_hash_and_names_a_changed_file()
    {
        using var tmp = new TempDir();
        Export(tmp.File("b"), "--no-parity").ExitCode.Should().Be(0);
        var ok = Support.Cli.Run("inspect", tmp.File("b"));
        ok.ExitCode.Should().Be(0, ok.ToString());
        ok.Stdout.Should().Contain("5 verified").And.Contain("engine: not built").And.Contain("profile B = 1:1:8");

        var bytes = File.ReadAllBytes(tmp.File("b/onnx/model.onnx"));
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(tmp.File("b/onnx/model.onnx"), bytes);
        var bad = Support.Cli.Run("inspect", tmp.File("b"));
        bad.ExitCode.Should().Be(1, bad.ToString());
        bad.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("onnx/model.onnx").And.Contain("SHA-256");

        File.Delete(tmp.File("b/README.md"));
        Support.Cli.Run("inspect", tmp.File("b")).Stderr.Should().Contain("README.md: missing");
    }

    [Fact]
    public void Validate_bundle_checks_hashes_checkpoint_and_parity()
    {
        using var tmp = new TempDir();
        Export(tmp.File("b"), "--precision", "fp16").ExitCode.Should().Be(0);
        var ok = Support.Cli.Run("validate", "--bundle", tmp.File("b"), "--checkpoint", Ckpt, "--shapes", "min,max");
        ok.ExitCode.Should().Be(0, ok.ToString());
        ok.Stdout.Should().Contain("5 files verified").And.Contain("2 input set(s)").And.Contain("onnx vs reference: pass")
            .And.Contain("no engine in the bundle");

        var golden = Support.Cli.Run("validate", "--bundle", tmp.File("b"), "--fixture", Tiny);
        golden.ExitCode.Should().Be(0, golden.ToString());
        golden.Stdout.Should().Contain("onnx vs golden: pass");

        var other = Support.Cli.Run("validate", "--bundle", tmp.File("b"), "--checkpoint",
            Repo.Golden("deepencoder-tiny-bf16") + "/model.safetensors");
        other.ExitCode.Should().Be(2, other.ToString());
        other.Stderr.Should().Contain("differs from the one the bundle was exported from");

        File.AppendAllText(tmp.File("b/build_engine.sh"), "# edited\n");
        var tampered = Support.Cli.Run("validate", "--bundle", tmp.File("b"), "--checkpoint", Ckpt);
        tampered.ExitCode.Should().Be(1, tampered.ToString());
        tampered.Stderr.Should().Contain("build_engine.sh");
    }

    [Theory]
    [InlineData("tiny", "global")]
    [InlineData("small", "global")]
    [InlineData("base", "global")]
    [InlineData("large", "global")]
    [InlineData("gundam", "global,local")]
    [InlineData("gundam-m", "global,local")]
    public void Every_mode_gives_a_verified_bundle(string mode, string parts)
    {
        using var tmp = new TempDir();
        var r = Export(tmp.File("m"), "--mode", mode, "--precision", "fp16");
        r.ExitCode.Should().Be(0, r.ToString());
        using var m = Manifest(tmp.File("m"));
        m.RootElement.GetProperty("mode").GetString().Should().Be(mode);
        m.RootElement.GetProperty("parts").EnumerateArray().Select(p => p.GetProperty("name").GetString()).Should().Equal(parts.Split(','));
        m.RootElement.GetProperty("parity").GetProperty("passed").GetBoolean().Should().BeTrue();
        if (parts.Contains("local"))
        {
            var t = m.RootElement.GetProperty("profiles").GetProperty("T");
            (t.GetProperty("min").GetInt64(), t.GetProperty("opt").GetInt64(), t.GetProperty("max").GetInt64()).Should().Be((2, 6, 9));
            File.ReadAllText(tmp.File("m/build_engine.sh"))
                .Should().Contain("--saveEngine=engine/local.plan").And.Contain("--optShapes=pixel_values:6x3x");
        }
        Support.Cli.Run("inspect", tmp.File("m")).ExitCode.Should().Be(0);
    }

    [Theory]
    [InlineData("vary", "")]
    [InlineData("internvl2", "")]
    [InlineData("qwen2vl", "")]
    [InlineData("deepencoder2", "gundam")]
    public void Every_family_gives_a_bundle_with_golden_parity(string family, string mode)
    {
        using var tmp = new TempDir();
        string dir = Repo.Golden(family + "-tiny");
        string[] modeArgs = mode.Length > 0 ? ["--mode", mode] : [];
        var r = Support.Cli.Run(["export", "--arch", family, "--checkpoint", Path.Combine(dir, "model.safetensors"), "--config",
            Path.Combine(dir, "fixture.json"),
            "--target", "tensorrt", "--precision", "fp16", "--out", tmp.File("f"), .. modeArgs]);
        r.ExitCode.Should().Be(0, r.ToString());
        using var m = Manifest(tmp.File("f"));
        var parity = m.RootElement.GetProperty("parity");
        parity.GetProperty("passed").GetBoolean().Should().BeTrue();
        parity.GetProperty("comparisons").EnumerateArray()
            .Should().Contain(c => c.GetProperty("comparison").GetString() == "onnx vs golden");
        Support.Cli.Run("inspect", tmp.File("f")).ExitCode.Should().Be(0);
    }

    [Fact]
    public void A_stand_in_trtexec_gets_the_plan_arguments_and_is_never_counted_as_an_engine()
    {
        using var tmp = new TempDir();
        using var trtexec = new StandInTrtexec();
        var r = trtexec.Run(ExportArgs(tmp.File("s"), "--trtexec", trtexec.Path, "--trt-version", "11", "--precision", "fp16", "--profile",
            "B=1:4:16"));
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("engine: not built").And.Contain("stand-in");

        var calls = trtexec.Calls();
        calls.Should().HaveCount(3); // one build, then one engine run per golden case (case0, case1)
        calls[0].Should().Equal("--onnx=onnx/model.onnx", "--saveEngine=engine/model.plan", "--minShapes=pixel_values:1x3x256x256",
            "--optShapes=pixel_values:4x3x256x256", "--maxShapes=pixel_values:16x3x256x256", "--stronglyTyped",
                "--timingCacheFile=engine/timing.cache",
            "--builderOptimizationLevel=3", "--memPoolSize=workspace:4096M", "--skipInference");
        calls[1].Should().Contain("--loadEngine=engine/model.plan").And.Contain("--shapes=pixel_values:1x3x256x256");
        calls[1].Should().Contain("input-bytes " + (3 * 256 * 256 * 4)); // raw f32 input file of case0
        calls[2].Should().Contain("--shapes=pixel_values:2x3x256x256");

        using var m = Manifest(tmp.File("s"));
        var engine = m.RootElement.GetProperty("engine");
        engine.GetProperty("status").GetString().Should().Be("not built");
        engine.GetProperty("message").GetString().Should().Contain("stand-in");
        engine.GetProperty("tensorrt_version").ValueKind.Should().Be(JsonValueKind.Null);
        engine.GetProperty("parity").GetProperty("counts_as_evidence").GetBoolean().Should().BeFalse();
        m.RootElement.GetProperty("tensorrt").GetProperty("strongly_typed").GetBoolean().Should().BeTrue();
        m.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("name").GetString())
            .Should().Contain(["engine/model.plan", "engine/timing.cache", "engine/build-model.log"]);
        File.ReadAllText(tmp.File("s/README.md")).Should().Contain("engine: not built");

        // validate --bundle runs the (stand-in) engine on the same inputs and never counts its figures.
        var validate = trtexec.Run("validate", "--bundle", tmp.File("s"), "--fixture", Tiny, "--trtexec", trtexec.Path);
        validate.ExitCode.Should().Be(0, validate.ToString());
        validate.Stdout.Should().Contain("stand-in: engine figures not counted").And.NotContain("engine vs reference");
        trtexec.Calls().Should().HaveCount(5);

        var again = trtexec.Run(ExportArgs(tmp.File("s2"), "--trtexec", trtexec.Path, "--require-engine", "--no-parity"));
        again.ExitCode.Should().Be(2, again.ToString());
        again.Stderr.Should().Contain("--require-engine");
    }

    [Fact]
    public void A_failing_trtexec_is_reported_with_its_error_line_and_log()
    {
        using var tmp = new TempDir();
        using var trtexec = new StandInTrtexec(exitCode: 1);
        var r = trtexec.Run(ExportArgs(tmp.File("f"), "--trtexec", trtexec.Path, "--no-parity"));
        r.ExitCode.Should().Be(3, r.ToString());
        r.Stdout.Should().Contain("engine: failed: trtexec exited 1").And.Contain("stand-in parse failure")
            .And.Contain("engine/build-model.log");
        File.Exists(tmp.File("f/engine/build-model.log")).Should().BeTrue();
        Support.Cli.Run("inspect", tmp.File("f")).ExitCode.Should().Be(0);
    }

    [Theory]
    [InlineData("--require-engine", "no trtexec on PATH")]
    [InlineData("--profile=B=4:2:8", "MIN <= OPT <= MAX")]
    [InlineData("--profile=X=1:2:3", "no dynamic axis 'X'")]
    [InlineData("--profile=B:1:2:3", "expected AXIS=MIN:OPT:MAX")]
    [InlineData("--trtexec=/nonexistent/trtexec", "/nonexistent/trtexec: file not found")]
    [InlineData("--opset=18", "--opset")]
    public void Bad_bundle_options_are_one_line_and_write_nothing(string option, string message)
    {
        using var tmp = new TempDir();
        var r = Export(tmp.File("x"), option);
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(message);
        Directory.Exists(tmp.File("x")).Should().BeFalse();
        Directory.GetFileSystemEntries(tmp.Path).Should().BeEmpty();
    }

    [Fact]
    public void A_bf16_bundle_says_onnx_runtime_cpu_cannot_check_it()
    {
        // ONNX Runtime's CPU provider has no bf16 Conv kernel: the bundle is written, its parity left to the engine.
        using var tmp = new TempDir();
        var r = Export(tmp.File("b"), "--precision", "bf16");
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("not measured on ONNX Runtime CPU: bf16");
        using (var m = Manifest(tmp.File("b")))
            m.RootElement.GetProperty("parity").GetProperty("passed").ValueKind.Should().Be(JsonValueKind.Null);
        var v = Support.Cli.Run("validate", "--bundle", tmp.File("b"), "--checkpoint", Ckpt);
        v.ExitCode.Should().Be(2, v.ToString());
        v.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("bf16").And.Contain("--ep");
    }

    [Fact]
    public void Bundle_options_need_the_tensorrt_target()
    {
        using var tmp = new TempDir();
        var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Ckpt, "--config", Path.Combine(Tiny, "fixture.json"),
            "--out", tmp.File("o"), "--trt-version", "11");
        r.ExitCode.Should().Be(2);
        r.Stderr.Should().Contain("--trt-version applies to --target tensorrt");
    }
}
