using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// The float64 arbiter (issue 9, point 5) on the tiny DeepEncoder fixture: the graph and weights evaluated in float64 by
/// TorchSharp, and golden, exported and reference each measured against it. A golden perturbed at 1e-4 must be named
/// the outlier; the real golden (PyTorch fp32) must not be; a path that fails only against a wrong golden is waived.
/// </summary>
public sealed class ArbiterTests(ITestOutputHelper output)
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");

    private static Action<string, float[]> Noise(double amplitude, int seed)
    {
        var rng = new Random(seed);
        return (_, v) =>
        {
            for (int i = 0; i < v.Length; i++) v[i] += (float)(rng.Next(2) == 0 ? -amplitude : amplitude);
        };
    }

    private (int Code, JsonDocument Doc) Validate(string fixture, params string[] extra)
    {
        var r = Support.Cli.Run(["validate", "--fixture", fixture, "--no-traces", "--json", .. extra]);
        output.WriteLine(r.Stderr);
        return (r.ExitCode, JsonDocument.Parse(r.Stdout));
    }

    private static JsonElement[] Verdicts(JsonDocument d) => d.RootElement.GetProperty("report").GetProperty("cases").EnumerateArray()
        .SelectMany(c => c.GetProperty("arbiter").EnumerateArray()).ToArray();

    [Fact]
    public void A_golden_perturbed_at_1e4_is_named_the_outlier()
    {
        using var tmp = new TempDir();
        string fx = FixtureCopy.Make(TinyDir, tmp.File("fx"), ["case0"], Noise(1e-4, 1));
        var (code, doc) = Validate(fx, "--arbiter", "fp64");
        using (doc)
        {
            var verdicts = Verdicts(doc);
            verdicts.Should().HaveCount(5, "sam, clip, features, projected, global_view_tokens");
            foreach (var v in verdicts)
            {
                v.GetProperty("outlier").GetString().Should().Be("golden", v.ToString());
                v.GetProperty("nearest").GetString().Should().NotBe("golden");
                var d = v.GetProperty("max_abs_from_fp64");
                d.GetProperty("golden").GetDouble().Should().BeGreaterThan(9e-5);
                d.GetProperty("exported").GetDouble().Should().BeLessThan(2e-5);
                d.GetProperty("reference").GetDouble().Should().BeLessThan(2e-5);
            }
            code.Should().Be(0, "every path within tolerance of fp64; failures against the perturbed golden are waived");
        }
    }

    [Fact]
    public void A_wrong_golden_fails_without_the_arbiter_and_is_waived_with_it()
    {
        using var tmp = new TempDir();
        string fx = FixtureCopy.Make(TinyDir, tmp.File("fx"), ["case0"], Noise(1e-3, 2));
        var (plain, d1) = Validate(fx);
        d1.Dispose();
        plain.Should().Be(1);
        var (arbitrated, d2) = Validate(fx, "--arbiter", "fp64");
        using (d2)
        {
            arbitrated.Should().Be(0);
            var waived = d2.RootElement.GetProperty("report").GetProperty("cases")[0].GetProperty("outputs").EnumerateArray()
                .Where(o => o.GetProperty("waived").ValueKind == JsonValueKind.String).ToArray();
            waived.Should().NotBeEmpty();
            waived.Should().OnlyContain(o => o.GetProperty("comparison").GetString()!.EndsWith(" vs golden")
                && o.GetProperty("waived").GetString()!.Contains("outlier"));
        }
    }

    [Fact]
    public void The_real_golden_is_no_outlier_and_fp64_reference_matches_it()
    {
        using var tmp = new TempDir();
        string fx = FixtureCopy.Make(TinyDir, tmp.File("fx"), ["case0"]);
        var (code, doc) = Validate(fx, "--arbiter", "fp64");
        using (doc)
        {
            code.Should().Be(0);
            Verdicts(doc).Should().OnlyContain(v => v.GetProperty("outlier").ValueKind == JsonValueKind.Null);
        }
        // --precision fp64 on the reference path alone.
        var (c64, d64) = Validate(fx, "--precision", "fp64");
        using (d64)
        {
            c64.Should().Be(0);
            d64.RootElement.GetProperty("report").GetProperty("precision").GetString().Should().Be("f64");
            d64.RootElement.GetProperty("report").GetProperty("cases")[0].GetProperty("outputs").EnumerateArray()
                .Where(o => o.GetProperty("comparison").GetString() == "reference vs golden")
                .Should().OnlyContain(o => o.GetProperty("max_abs").GetDouble() < 2e-5);
        }
    }
}
