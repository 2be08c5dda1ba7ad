using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>A golden output the graph does not produce is a failed comparison, never a silently skipped one.</summary>
public sealed class ParityRunnerMissingOutputTests
{
    [Fact]
    public void A_golden_output_the_graph_lacks_fails_the_case()
    {
        string tiny = Repo.Golden("deepencoder-tiny");
        using var tmp = new TempDir();
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(tiny, "fixture.json")))!;
        var cases = json["cases"]!.AsArray();
        while (cases.Count > 1) cases.RemoveAt(1);
        File.WriteAllText(tmp.File("fixture.json"), json.ToJsonString());
        File.CreateSymbolicLink(tmp.File("model.safetensors"), Path.Combine(tiny, "model.safetensors"));
        using (var golden = SafetensorsFile.Open(Path.Combine(tiny, "golden.safetensors")))
        {
            WritableTensor Copy(string from, string to)
            {
                var t = golden.Get(from);
                var bytes = golden.GetBytes(from).ToArray();
                return new WritableTensor(to, t.DType, t.Shape, () => bytes);
            }
            SafetensorsWriter.Write(tmp.File("golden.safetensors"),
            [
                Copy("case0.input.pixel_values", "case0.input.pixel_values"),
                Copy("case0.output.global_view_tokens", "case0.output.global_view_tokens"),
                Copy("case0.output.global_view_tokens", "case0.output.no_such_output"),
            ]);
        }
        using var fixture = GoldenFixture.Load(tmp.Path);
        var report = new ParityRunner(new ValidationOptions { Paths = new HashSet<ValidationPath> { ValidationPath.Exported },
            Traces = false })
            .RunFixture(fixture);
        report.Passed.Should().BeFalse();
        var results = report.Cases.Single().Outputs.ToDictionary(o => o.Output, o => o.Result);
        results["global_view_tokens"].Passed.Should().BeTrue();
        results["no_such_output"].Passed.Should().BeFalse();
        results["no_such_output"].Failure.Should().Be("the graph has no such output");
    }
}
