using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// Every released variant, cut to one layer per tower in its config.json (widths, projector and merger as released),
/// exported from a header-only checkpoint with no --arch and no --config (Vary: its towers are fixed in code, so the cut
/// goes through --config), then loaded and run in ONNX Runtime. Slow: the InternViT-6B cuts are ~1 GB of ONNX each.
/// </summary>
public class ReleasedVariantExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names => new(ReleasedVariants.All.Select(v => v.Name));

    [Theory]
    [MemberData(nameof(Names))]
    [Trait("Category", "Slow")]
    public void A_one_layer_cut_of_each_variant_exports_and_runs(string name)
    {
        var v = ReleasedVariants.All.Single(x => x.Name == name);
        using var tmp = new TempDir();
        string dir = tmp.File("model");
        Directory.CreateDirectory(dir);
        var cfg = JsonNode.Parse(v.ConfigJson)!.AsObject();
        string[] extra = [];
        if (v.Family == "vary")
        {
            File.WriteAllText(tmp.File("cut.json"), """{"sam": {"depth": 1, "global_attn_indexes": []}, "clip": {"num_layers": 2}}""");
            extra = ["--config", tmp.File("cut.json")];
        }
        else if (v.Family == "deepencoder2")
        {
            // Its config.json states no encoder depth: the encoder is cut through --config, SAM in config.json.
            HfFolderExportTests.Cut(cfg, "deepencoder");
            File.WriteAllText(tmp.File("cut.json"), """{"qwen2": {"num_layers": 1}}""");
            extra = ["--config", tmp.File("cut.json")];
        }
        else HfFolderExportTests.Cut(cfg, v.Family);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());

        // The checkpoint is laid out from the graph the export will build (config.json + the cut), as released.
        var arch = ArchitectureRegistry.Get(v.Family);
        var config = JsonSerializer.SerializeToElement(Merged(dir, extra));
        var graph = arch.Build(config, new BuildRequest());
        HeaderOnlyCheckpoint.Write(dir, HeaderOnlyCheckpoint.ReleasedLayout(graph, arch.Adapter, v.Family));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = Support.Cli.Run(TimeSpan.FromMinutes(10), ["export", "--checkpoint", dir, "--out", tmp.File("out"), .. extra]);
        run.ExitCode.Should().Be(0, run.ToString());
        var manifest = JsonNode.Parse(File.ReadAllText(tmp.File("out/manifest.json")))!;
        manifest["architecture"]!.GetValue<string>().Should().Be(v.Family);
        manifest["parameters"]!.GetValue<long>().Should().Be(graph.ParameterCount);
        using var ort = new OrtRunner(tmp.File("out/model.onnx"));
        var outputs = ort.Run(HfFolderExportTests.Inputs(arch, config, ort));
        foreach (var (o, t) in outputs) t.Data.Should().OnlyContain(x => float.IsFinite(x), o);
        output.WriteLine($"{name}: {graph.ParameterCount:N0} parameters in the cut, export + ORT run {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>The cut's fixture-format config: config.json read as the export will read it, plus the --config file.</summary>
    private static JsonObject Merged(string dir, string[] extra)
    {
        var cfg = (JsonObject)HfConfigReaders.Read(HfFolder.Open(dir)!).Config.DeepClone();
        if (extra.Length == 2)
            foreach (var (k, val) in JsonNode.Parse(File.ReadAllText(extra[1]))!.AsObject())
            {
                if (cfg[k] is not JsonObject part) cfg[k] = part = [];
                foreach (var (k2, v2) in val!.AsObject()) part[k2] = v2!.DeepClone();
            }
        return cfg;
    }
}
