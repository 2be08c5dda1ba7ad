using FluentAssertions;
using ModelForge.Converters.Bundles;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Bundles;
using Xunit;

namespace ModelForge.Tests.Bundles;

/// <summary>The pieces of a bundle that need no process: profiles, trtexec arguments, its banner and output format.</summary>
public class BundlePlanTests
{
    [Fact]
    public void Profiles_parse_default_and_refuse_mistakes()
    {
        var given = TrtProfiles.Parse(["B=1:4:16"]);
        TrtProfiles.Resolve(given, ["B", "T"])
            .Should().BeEquivalentTo(new Dictionary<string, AxisRange> { ["B"] = new(1, 4, 16), ["T"] = new(2, 6, 9) });
        TrtProfiles.Resolve(new Dictionary<string, AxisRange>(), ["B"])["B"].Should().Be(new AxisRange(1, 1, 8));
        foreach (var bad in new[] { "B=1:2", "B=0:1:2", "B=3:2:4", "B=1:2:99999", "=1:2:3", "B=a:b:c" })
            FluentActions.Invoking(() => TrtProfiles.Parse([bad])).Should().Throw<ArgumentException>().WithMessage($"--profile {bad}:*");
        FluentActions.Invoking(() => TrtProfiles.Parse(["B=1:2:3", "B=1:2:4"]))
            .Should().Throw<ArgumentException>().WithMessage("*given twice*");
        FluentActions.Invoking(() => TrtProfiles.Resolve(TrtProfiles.Parse(["T=2:3:4"]), ["B"]))
            .Should().Throw<ArgumentException>().WithMessage("*no dynamic axis 'T'*");
    }

    [Theory]
    [InlineData(10, DataType.Float32, false, "--stronglyTyped")]
    [InlineData(10, DataType.Float16, false, "--fp16")]
    [InlineData(10, DataType.BFloat16, false, "--bf16")]
    [InlineData(10, DataType.Float16, true, "--stronglyTyped")]
    [InlineData(11, DataType.Float16, false, "--stronglyTyped")]
    [InlineData(11, DataType.BFloat16, true, "--stronglyTyped")]
    public void Strongly_typed_for_11_and_for_10_when_the_plan_is_explicit(int trt, DataType precision, bool planInOnnx, string flag)
    {
        var inputs = new[] { new TrtInput("x", "f32", ["B", "3", "8", "8"], [1, 3, 8, 8], [2, 3, 8, 8], [4, 3, 8, 8]) };
        var plan = TrtBuildPlan.Part("model", "onnx/model.onnx", inputs, new TrtBuildSettings(trt, precision, planInOnnx, 5, 1024));
        plan.Arguments.Should().Contain(flag).And.Contain("--builderOptimizationLevel=5").And.Contain("--memPoolSize=workspace:1024M")
            .And.Contain("--minShapes=x:1x3x8x8").And.Contain("--optShapes=x:2x3x8x8").And.Contain("--maxShapes=x:4x3x8x8");
        plan.Arguments.Count(a => a is "--stronglyTyped" or "--fp16" or "--bf16").Should().Be(1);
        var fixedShape = TrtBuildPlan.Part("m", "m.onnx", [new TrtInput("x", "f32", ["1", "3"], [1, 3], [1, 3], [1, 3])],
            new TrtBuildSettings(trt, precision, planInOnnx));
        // trtexec refuses shapes of static inputs
        fixedShape.Arguments.Should().NotContain(a => a.StartsWith("--minShapes", StringComparison.Ordinal));
        TrtBuildPlan.Quote("--shapes=a:1x2").Should().Be("--shapes=a:1x2");
        TrtBuildPlan.Quote("it's here").Should().Be("'it'\\''s here'");
    }

    [Fact]
    public void Manifest_file_entries_cannot_point_outside_the_bundle()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("b"));
        File.WriteAllText(tmp.File("outside.txt"), "x");
        File.WriteAllText(tmp.File("b/a.txt"), "abc");
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("abc"u8.ToArray()));
        string shaX = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("x"u8.ToArray()));
        using var doc = System.Text.Json.JsonDocument.Parse($$"""
            {"files": [{"name": "a.txt", "bytes": 3, "sha256": "{{sha}}"}, {"name": "../outside.txt", "bytes": 1, "sha256": "{{shaX}}"},
                       {"name": "{{tmp.File("outside.txt")}}", "bytes": 1, "sha256": "{{shaX}}"}]}
            """);
        var (problems, unlisted) = BundleFiles.Verify(tmp.File("b"), doc.RootElement);
        problems.Should().HaveCount(2)
            .And.OnlyContain(p => p.Name == "manifest.json" && p.Problem.StartsWith("malformed file entry", StringComparison.Ordinal));
        unlisted.Should().BeEmpty();
        File.WriteAllText(tmp.File("b/extra.plan"), "later");
        BundleFiles.Verify(tmp.File("b"), doc.RootElement).Unlisted.Should().Equal("extra.plan");
    }

    [Theory]
    [InlineData("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=a.onnx", "10.3.0")]
    [InlineData("&&&& RUNNING TensorRT.trtexec [TensorRT v101400] # trtexec", "10.14.0")]
    [InlineData("&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec", "8.6.1")]
    [InlineData("[12/01/2026-10:00:00] [I] TensorRT version: 10.8.0\n[TensorRT v100800]", "10.8.0")]
    [InlineData("no banner here", null)]
    public void The_TensorRT_version_is_read_from_trtexecs_banner(string output, string? version) =>
        Trtexec.ParseVersion(output).Should().Be(version);

    [Fact]
    public void Exported_outputs_and_raw_inputs_use_trtexecs_formats()
    {
        using var tmp = new TempDir();
        // The layout trtexec's exportJSONOutput writes (sampleReporting.cpp): name, "AxB" dimensions, flat values.
        File.WriteAllText(tmp.File("o.json"),
            "[\n  { \"name\" : \"y\"\n  , \"dimensions\" : \"2x3\"\n  , \"values\" : [ 1, 2, 3, 4, 5, -6.5 ]\n  }\n]\n");
        var outputs = BundleEngine.ReadOutputs(tmp.File("o.json"));
        outputs["y"].Shape.Should().Equal(2, 3);
        outputs["y"].Floats.Should().Equal(1, 2, 3, 4, 5, -6.5f);
        File.WriteAllText(tmp.File("bad.json"), "[{\"name\":\"y\",\"dimensions\":\"2x3\",\"values\":[1]}]");
        FluentActions.Invoking(() => BundleEngine.ReadOutputs(tmp.File("bad.json")))
            .Should().Throw<FormatException>().WithMessage("*1 values for dimensions 2x3*");

        var t = new HostTensor([3], [1f, -2.5f, 3.140625f]);
        BundleEngine.RawBytes(t, "f32")
            .Should().Equal(BitConverter.GetBytes(1f).Concat(BitConverter.GetBytes(-2.5f)).Concat(BitConverter.GetBytes(3.140625f)));
        BundleEngine.RawBytes(t, "f16")
            .Should().Equal(new[] { (Half)1f, (Half)(-2.5f), (Half)3.140625f }.SelectMany(BitConverter.GetBytes));
        // bf16 = the high half of the f32 bits, rounded to nearest even: 1.0 -> 0x3F80, -2.5 -> 0xC020, 3.140625 -> 0x4049.
        BundleEngine.RawBytes(t, "bf16").Should().Equal(0x80, 0x3F, 0x20, 0xC0, 0x49, 0x40);
    }
}
