using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// validate in daily use (issue 9, point 4): an artifact folder with all its parts, left untouched; nothing compared is
/// exit 2; saved inputs/outputs round-trip; per-output tolerances from fixture.json and the command line; the error
/// statistic that must stay under tolerance.
/// </summary>
public sealed class ValidateDailyUseTests(ITestOutputHelper output)
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string TinyCkpt = Path.Combine(TinyDir, "model.safetensors");
    private static readonly string TinyConfig = Path.Combine(TinyDir, "fixture.json");

    private static CliResult Export(string dir, params string[] extra)
    {
        var r = Support.Cli.Run(["export", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--out", dir,
            .. extra]);
        r.ExitCode.Should().Be(0, r.ToString());
        return r;
    }

    private static Dictionary<string, string> Snapshot(string dir) => Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
        .ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));

    private static JsonElement[] Outputs(JsonDocument report) => report.RootElement.GetProperty("cases").EnumerateArray()
        .SelectMany(c => c.GetProperty("outputs").EnumerateArray()).ToArray();

    [Fact]
    public void An_artifact_folder_is_validated_part_by_part_and_never_written_to()
    {
        using var tmp = new TempDir();
        string art = tmp.File("gundam");
        Export(art, "--mode", "gundam", "--external-data", "always");
        var before = Snapshot(art);
        var r = Support.Cli.Run("validate", "--fixture", TinyDir, "--onnx", art, "--report", tmp.File("r.json"));
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(0, r.ToString());
        Snapshot(art).Should().Equal(before, "validate must not write into the user's artifact (not even a temporary copy)");

        using var report = JsonDocument.Parse(File.ReadAllText(tmp.File("r.json")));
        var cases = report.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        // 256 px -> global.onnx, 160 px -> local.onnx (tile graph: projected + traces), 320 px fits no part.
        cases["case2"].GetProperty("outputs").EnumerateArray().Should().Contain(o =>
            o.GetProperty("comparison").GetString() == "exported vs golden" && o.GetProperty("output").GetString() == "projected");
        cases["case2"].GetProperty("notes")[0].GetString().Should().Contain("local.onnx");
        cases["case3"].GetProperty("skipped").GetString().Should().Contain("global.onnx").And.Contain("local.onnx");
        cases["case0"].GetProperty("outputs").EnumerateArray()
            .Should().Contain(o => o.GetProperty("output").GetString()!.StartsWith("trace."),
            "intermediates are compared through an in-memory copy of the model");
    }

    [Fact]
    public void Nothing_compared_is_exit_2_with_the_reason()
    {
        using var tmp = new TempDir();
        Export(tmp.File("odd"), "--image-size", "192");
        var r = Support.Cli.Run("validate", "--fixture", TinyDir, "--onnx", tmp.File("odd"), "--no-traces");
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Should().Contain("nothing compared").And.Contain("does not fit the artifact's [?, 3, 192, 192]");
        r.Stdout.Should().NotContain("FAIL 0 of 0").And.NotContain("PASS");
    }

    [Fact]
    public void Saved_inputs_feed_a_second_run_and_saved_outputs_match()
    {
        using var tmp = new TempDir();
        string[] common = ["validate", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--image-size", "128"];
        var first = Support.Cli.Run([.. common, "--seed", "7", "--save-inputs", tmp.File("in.safetensors"), "--save-outputs",
            tmp.File("out1.safetensors")]);
        first.ExitCode.Should().Be(0, first.ToString());
        var second = Support.Cli.Run([.. common, "--inputs", tmp.File("in.safetensors"), "--save-outputs", tmp.File("out2.safetensors")]);
        second.ExitCode.Should().Be(0, second.ToString());

        using var inputs = SafetensorsFile.Open(tmp.File("in.safetensors"));
        inputs.Get("pixel_values").Shape.Should().Equal(1, 3, 128, 128);
        using var a = SafetensorsFile.Open(tmp.File("out1.safetensors"));
        using var b = SafetensorsFile.Open(tmp.File("out2.safetensors"));
        a.Tensors.Select(t => t.Name).Should().Contain(["inputs.exported.global_view_tokens", "inputs.reference.global_view_tokens"]);
        foreach (var name in new[] { "inputs.exported.global_view_tokens", "inputs.reference.global_view_tokens" })
        {
            var x = a.ReadAsFloat32(name);
            var y = b.ReadAsFloat32(name);
            x.Zip(y, (p, q) => Math.Abs(p - q)).Max().Should().BeLessThan(1e-6f, $"{name}: same inputs, same outputs");
        }
    }

    [Fact]
    public void Per_output_tolerances_from_the_fixture_and_the_command_line()
    {
        using var tmp = new TempDir();
        string fx = FixtureCopy.Make(TinyDir, tmp.File("fx"), ["case0"], editJson: j =>
            j["tolerances"] = new JsonObject { ["global_view_tokens"] = new JsonObject { ["atol"] = 1e-9, ["rtol"] = 0.0 } });
        var strict = Support.Cli.Run("validate", "--fixture", fx, "--no-traces", "--report", tmp.File("r.json"));
        strict.ExitCode.Should().Be(1, strict.ToString());
        using (var report = JsonDocument.Parse(File.ReadAllText(tmp.File("r.json"))))
            Outputs(report).Where(o => !o.GetProperty("passed").GetBoolean()).Select(o => o.GetProperty("output").GetString()).Distinct()
                .Should().Equal("global_view_tokens");
        // The command line wins over the fixture, for that output only.
        var loose = Support.Cli.Run("validate", "--fixture", fx, "--no-traces", "--atol", "global_view_tokens:1e-3", "--rtol",
            "global_view_tokens:0");
        loose.ExitCode.Should().Be(0, loose.ToString());
        // And a per-output value on the command line alone makes that output fail.
        var cli = Support.Cli.Run("validate", "--fixture", FixtureCopy.Make(TinyDir, tmp.File("plain"), ["case0"]), "--no-traces", "--atol",
            "sam:0", "--rtol", "sam:0");
        cli.ExitCode.Should().Be(1, cli.ToString());
        cli.Stdout.Should().Contain("FAIL case0 exported vs golden sam").And.NotContain("FAIL case0 exported vs golden clip");
    }

    [Fact]
    public void Error_statistic_decides_what_must_stay_under_tolerance()
    {
        using var tmp = new TempDir();
        // One element of one golden output off by 1.0: elementwise and max fail, median and the 99% quantile do not.
        string fx = FixtureCopy.Make(TinyDir, tmp.File("fx"), ["case0"],
            (name, v) => { if (name.EndsWith(".global_view_tokens")) v[7] += 1f; });
        int Code(params string[] extra)
            => Support.Cli.Run(["validate", "--fixture", fx, "--no-traces", "--paths", "exported", .. extra]).ExitCode;
        Code("--check-error-stat", "elementwise").Should().Be(1);
        Code("--check-error-stat", "max").Should().Be(1);
        Code("--check-error-stat", "median").Should().Be(0);
        Code("--check-error-stat", "quantile:0.99").Should().Be(0);
        // 1.0 over the 2016 elements of [1, 21, 96] is a mean abs error of ~5e-4: over the default atol, under 1e-3.
        Code("--check-error-stat", "mean", "--atol", "1e-3").Should().Be(0);
        Code("--atol", "1e-3").Should().Be(1, "elementwise, that element is still 1.0 off");
        Code("--check-error-stat", "quantile:2").Should().Be(2);
    }
}
