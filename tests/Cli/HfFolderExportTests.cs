using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>
/// `modelforge export --checkpoint DIR --out OUT` with NO --arch and NO --config, on folders built from the real hub
/// configs (fixtures/hf-configs) cut to one layer per tower in config.json (the released widths are kept), with a
/// header-only (sparse, all-zero) checkpoint of the released key layout. The artifact must load and run in ONNX Runtime,
/// and the manifest must say where every hyperparameter came from. Numerics of the builders are the goldens' job.
/// </summary>
public class HfFolderExportTests
{
    private static string Shared(string dir, string file) => Repo.Fixture("hf-configs", dir, file);

    /// <summary>InternVL partial files stop before vision_config; the real files hold the 300M tower's (see ReleasedVariants).</summary>
    private static JsonObject CompleteInternVl(JsonObject cfg)
    {
        var full = JsonNode.Parse(ReleasedVariants.All.Single(v => v.Name == "OpenGVLab/InternVL2-8B").ConfigJson)!.AsObject();
        foreach (var k in new[] { "vision_config", "ps_version", "select_layer" }) cfg[k] ??= full[k]!.DeepClone();
        return cfg;
    }

    /// <summary>(shared dir, config file, processor file or null, cut, expected family, a field whose source must be
    /// config.json).</summary>
    public static TheoryData<string, string, string?, string, string> Folders => new()
    {
        { "deepseek-ai__DeepSeek-OCR", "config.json", "processor_config.partial.json", "deepencoder",
            "sam.embed_dim=config.json:vision_config.width.sam_vit_b.width" },
        { "Qwen__Qwen2-VL-7B-Instruct", "config.json", "preprocessor_config.partial.json", "qwen2vl",
            "vit.hidden_size=config.json:vision_config.hidden_size" },
        { "Qwen__Qwen2-VL-2B-Instruct", "config.partial.json", null, "qwen2vl",
            "vit.patch_size=config.json:vision_config.spatial_patch_size" },
        { "Qwen__Qwen2-VL-72B-Instruct", "config.partial.json", null, "qwen2vl", "vit.embed_dim=default (Qwen2VLVisionConfig)" },
        { "OpenGVLab__InternVL2-2B", "config.partial.json", null, "internvl2", "mlp1.hidden=config.json:llm_config.hidden_size" },
        { "OpenGVLab__InternVL2_5-8B", "config.partial.json", null, "internvl2",
            "mlp1.hidden=default (InternLM2Config via llm_config.architectures)" },
    };

    internal static void Cut(JsonObject cfg, string family)
    {
        switch (family)
        {
            case "deepencoder":
                var w = cfg["vision_config"]!["width"]!;
                w["sam_vit_b"]!["layers"] = 1;
                // Window attention only: a global block at 1024 px holds 12 x 4096² scores (0.8 GB) in ONNX Runtime.
                w["sam_vit_b"]!["global_attn_indexes"] = new JsonArray();
                if (w["clip-l-14-224"] is { } clip) clip["layers"] = 1;
                break;
            case "qwen2vl":
                cfg["vision_config"]!["depth"] = 1;
                break;
            case "internvl2":
                cfg["vision_config"]!["num_hidden_layers"] = 1;
                break;
        }
    }

    private static (string Dir, Architecture Arch, JsonElement Config) Folder(TempDir tmp, string shared, string configFile,
        string? processor, string family)
    {
        var cfg = JsonNode.Parse(File.ReadAllText(Shared(shared, configFile)))!.AsObject();
        if (family == "internvl2") CompleteInternVl(cfg);
        Cut(cfg, family);
        string dir = tmp.File("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        if (processor is not null) File.Copy(Shared(shared, processor),
            Path.Combine(dir, processor.Replace(".partial", "", StringComparison.Ordinal)));
        var resolved = HfConfigReaders.Read(HfFolder.Open(dir)!);
        var arch = ArchitectureRegistry.Get(family);
        var element = JsonSerializer.SerializeToElement(resolved.Config);
        var graph = arch.Build(element, new BuildRequest());
        HeaderOnlyCheckpoint.Write(dir, HeaderOnlyCheckpoint.ReleasedLayout(graph, arch.Adapter, family));
        return (dir, arch, element);
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void A_downloaded_folder_exports_with_no_arch_and_no_config(string shared, string configFile, string? processor, string family,
        string source)
    {
        using var tmp = new TempDir();
        var (dir, arch, config) = Folder(tmp, shared, configFile, processor, family);
        var run = Support.Cli.Run("export", "--checkpoint", dir, "--out", tmp.File("out"));
        run.ExitCode.Should().Be(0, run.ToString());

        using var manifest = JsonDocument.Parse(File.ReadAllText(tmp.File("out/manifest.json")));
        var m = manifest.RootElement;
        m.GetProperty("architecture").GetString().Should().Be(family);
        var sources = m.GetProperty("config_sources").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        var (field, from) = (source.Split('=')[0], source.Split('=')[1]);
        sources.Should().ContainKey(field).WhoseValue.Should().Be(from);
        sources.Values.Should().OnlyContain(s => s!.StartsWith("config.json:") || s.StartsWith("default (") || s.StartsWith("derived (")
            || s.StartsWith("preprocessor_config.json:") || s.StartsWith("processor_config.json:"));
        m.GetProperty("preprocessing").ValueKind.Should().Be(JsonValueKind.Object);

        // Real ONNX Runtime load and one run of the exported cut.
        using var ort = new OrtRunner(tmp.File("out/model.onnx"));
        var inputs = Inputs(arch, config, ort);
        var outputs = ort.Run(inputs);
        outputs.Should().NotBeEmpty();
        foreach (var (name, t) in outputs)
            t.Data.Should().OnlyContain(x => float.IsFinite(x), name);
    }

    internal static IReadOnlyDictionary<string, HostTensor> Inputs(Architecture arch, JsonElement config, OrtRunner ort)
    {
        if (arch.Name == "qwen2vl")
        {
            var given = new Dictionary<string, HostTensor>
            {
                ["pixel_values"] = new([16, 1176], new float[16 * 1176]),
                ["grid_thw"] = new([1, 3], [1L, 4, 4]),
            };
            return arch.PlanCalls(config, given).Single();
        }
        var rng = new Random(5);
        return ort.Inputs.ToDictionary(i => i.Name, i =>
        {
            long[] dims = i.Dims.Select(d => d < 0 ? 1 : d).ToArray();
            var data = new float[dims.Aggregate(1L, (a, d) => a * d)];
            for (int k = 0; k < data.Length; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(dims, data);
        });
    }
}
