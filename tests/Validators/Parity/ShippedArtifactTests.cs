using System.Text.Json;
using System.Xml.Linq;
using FluentAssertions;
using Google.Protobuf;
using ModelForge.Converters.Onnx;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>
/// `validate --onnx` checks the artifact a user ships: a faithful export passes; one perturbed weight is caught on both
/// comparisons and the first divergent block is named; reports are valid JSON and JUnit XML.
/// </summary>
public class ShippedArtifactTests(ITestOutputHelper output)
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    private static string Export(TempDir tmp)
    {
        var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(Tiny, "model.safetensors"),
            "--config", Path.Combine(Tiny, "fixture.json"), "--out", tmp.File("artifact"));
        r.ExitCode.Should().Be(0, r.ToString());
        return tmp.File("artifact/model.onnx");
    }

    [Fact]
    public void Faithful_artifact_passes_and_cases_of_other_sizes_are_skipped()
    {
        using var tmp = new TempDir();
        string model = Export(tmp);
        var r = Support.Cli.Run("validate", "--fixture", Tiny, "--onnx", model, "--junit", tmp.File("j.xml"), "--report",
            tmp.File("r.json"));
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("case2: skipped").And.Contain("case3: skipped");
        var junit = XDocument.Load(tmp.File("j.xml"));
        junit.Root!.Name.LocalName.Should().Be("testsuites");
        junit.Descendants("testcase").Should().Contain(t => t.Element("skipped") != null);
        junit.Descendants("failure").Should().BeEmpty();
        Directory.EnumerateFiles(tmp.Path, "*.partial-*", SearchOption.AllDirectories).Should().BeEmpty();
        Directory.EnumerateFiles(tmp.File("artifact"), ".*validate*").Should().BeEmpty("the temporary copy with extra outputs is removed");
    }

    [Fact]
    public void Perturbed_weight_is_caught_and_the_first_divergent_block_named()
    {
        using var tmp = new TempDir();
        string model = Export(tmp);
        var proto = OnnxModelEditor.Read(model);
        // ".T" once transposes are folded
        var w = proto.Graph.Initializer.Single(i => i.Name.StartsWith("sam_model.blocks.1.attn.proj.weight", StringComparison.Ordinal));
        var bytes = w.RawData.ToByteArray();
        BitConverter.GetBytes(BitConverter.ToSingle(bytes, 0) + 0.5f).CopyTo(bytes, 0);
        w.RawData = ByteString.CopyFrom(bytes);
        string broken = tmp.File("artifact/broken.onnx");
        File.WriteAllBytes(broken, proto.ToByteArray());

        var r = Support.Cli.Run("validate", "--fixture", Tiny, "--onnx", broken, "--junit", tmp.File("j.xml"), "--report",
            tmp.File("r.json"));
        output.WriteLine(r.ToString());
        r.ExitCode.Should().Be(1, r.ToString());
        r.Stdout.Should().Contain("first divergence (exported vs golden): sam.blocks.1");
        r.Stdout.Should().Contain("first divergence (exported vs reference): sam.blocks.1");

        var junit = XDocument.Load(tmp.File("j.xml"));
        int failures = int.Parse(junit.Root!.Attribute("failures")!.Value);
        failures.Should().BeGreaterThan(0);
        junit.Descendants("failure").Should().HaveCount(failures);
        using var json = JsonDocument.Parse(File.ReadAllText(tmp.File("r.json")));
        json.RootElement.GetProperty("passed").GetBoolean().Should().BeFalse();
        json.RootElement.GetProperty("cases")[0].GetProperty("first_divergence").GetProperty("exported vs golden").GetString()
            .Should().Be("sam.blocks.1");
    }
}
