using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>The per-family config.json readers on the real hub files (fixtures/hf-configs): values, and where each came from.</summary>
public class HfConfigReaderTests
{
    private static HfResolved Read(string dir, string config, string? processor = null, string? processorName = null)
    {
        string Text(string f) => File.ReadAllText(Repo.Fixture("hf-configs", dir, f));
        return HfConfigReaders.Read(HfFolder.FromText(Repo.Fixture("hf-configs", dir), Text(config), processorName,
            processor is null ? null : Text(processor)));
    }

    private static JsonNode At(JsonObject o, string path) => path.Split('.').Aggregate((JsonNode)o, (n, p) => n[p]!);

    [Fact]
    public void Qwen2_vl_7b_reads_vision_config_and_the_processor()
    {
        var r = Read("Qwen__Qwen2-VL-7B-Instruct", "config.json", "preprocessor_config.partial.json", "preprocessor_config.json");
        r.Family.Should().Be("qwen2vl");
        r.Recognized.Should().Be("model_type 'qwen2_vl'");
        At(r.Config, "vit.hidden_size").GetValue<int>().Should().Be(3584);
        r.Sources["vit.depth"].Should().Be("config.json:vision_config.depth");
        r.Sources["vit.in_channels"].Should().Be("config.json:vision_config.in_chans");
        r.Sources["vit.activation"].Should().Be("default (Qwen2VLVisionConfig)");
        r.Preprocessing["max_pixels"]!.GetValue<int>().Should().Be(12_845_056);
        r.Sources["preprocessing.max_pixels"].Should().Be("preprocessor_config.json:max_pixels");
        r.Preprocessing["image_mean"]!.AsArray().Select(x => x!.GetValue<double>()).Should().Equal(0.48145466, 0.4578275, 0.40821073);
    }

    [Fact]
    public void A_minimal_re_saved_vision_config_takes_the_class_defaults()
    {
        // Qwen2-VL-72B re-save: vision_config is {hidden_size 8192, in_chans 3, model_type, spatial_patch_size 14}.
        var r = Read("Qwen__Qwen2-VL-72B-Instruct", "config.partial.json");
        (At(r.Config, "vit.depth").GetValue<int>(), At(r.Config, "vit.embed_dim").GetValue<int>(),
            At(r.Config, "vit.hidden_size").GetValue<int>())
            .Should().Be((32, 1280, 8192));
        r.Sources["vit.depth"].Should().Be("default (Qwen2VLVisionConfig)");
        r.Sources["vit.hidden_size"].Should().Be("config.json:vision_config.hidden_size");
        r.Sources["vit.patch_size"].Should().Be("config.json:vision_config.spatial_patch_size");
        r.Sources["preprocessing.max_pixels"].Should().Be("default (Qwen2VLImageProcessor)");
        r.Preprocessing["max_pixels"]!.GetValue<int>().Should().Be(28 * 28 * 1280);
    }

    [Fact]
    public void Deepseek_ocr_reads_both_towers_the_projector_and_the_processor()
    {
        var r = Read("deepseek-ai__DeepSeek-OCR", "config.json", "processor_config.partial.json", "processor_config.json");
        r.Family.Should().Be("deepencoder");
        At(r.Config, "sam.embed_dim").GetValue<int>().Should().Be(768);
        At(r.Config, "sam.global_attn_indexes").AsArray().Select(x => x!.GetValue<int>()).Should().Equal(2, 5, 8, 11);
        At(r.Config, "sam.net3_channels").GetValue<int>().Should().Be(1024);
        r.Sources["sam.net2_channels"].Should().Be("derived (config.json:vision_config.width.sam_vit_b.downsample_channels[0])");
        At(r.Config, "clip.num_layers").GetValue<int>().Should().Be(24);
        r.Sources["clip.hidden_size"].Should().Be("config.json:vision_config.width.clip-l-14-224.width");
        At(r.Config, "clip.ffn_hidden_size").GetValue<long>().Should().Be(4096);
        At(r.Config, "projector.output_dim").GetValue<int>().Should().Be(1280);
        r.Sources["projector.output_dim"].Should().Be("config.json:projector_config.n_embed");
        r.Preprocessing["downsample_ratio"]!.GetValue<int>().Should().Be(4);
        r.Sources["preprocessing.patch_size"].Should().Be("processor_config.json:patch_size");
        r.Sources["preprocessing.tile_tag"].Should().Be("config.json:tile_tag");
    }

    [Fact]
    public void Internvl_without_vision_config_takes_intern_vision_config_defaults_the_6b_tower()
    {
        // The partial InternVL2-2B file stops before vision_config: InternVisionConfig's own defaults are the 6B tower's.
        // (It also lacks ps_version, whose class default v1 is refused; the real file says v2.)
        var cfg = JsonNode.Parse(File.ReadAllText(Repo.Fixture("hf-configs", "OpenGVLab__InternVL2-2B",
            "config.partial.json")))!.AsObject();
        cfg["ps_version"] = "v2";
        var r = HfConfigReaders.Read(HfFolder.FromText("/x", cfg.ToJsonString()));
        At(r.Config, "vit.hidden_size").GetValue<int>().Should().Be(3200);
        At(r.Config, "vit.norm_type").GetValue<string>().Should().Be("rms_norm");
        r.Sources["vit.qk_normalization"].Should().Be("default (InternVisionConfig)");
        At(r.Config, "mlp1.hidden").GetValue<int>().Should().Be(2048);
        r.Sources["mlp1.hidden"].Should().Be("config.json:llm_config.hidden_size");
        At(r.Config, "tile_size").GetValue<int>().Should().Be(448);
        r.Sources["tile_size"].Should().Be("config.json:force_image_size");
        r.Sources["preprocessing.dynamic_image_size"].Should().Be("config.json:dynamic_image_size");
    }

    [Fact]
    public void Internvl_llm_width_falls_back_to_the_llm_config_class_default()
    {
        var r = HfConfigReaders.Read(HfFolder.FromText("/x", """
            {"model_type": "internvl_chat", "ps_version": "v2", "llm_config": {"architectures": ["Phi3ForCausalLM"]}}
            """));
        At(r.Config, "mlp1.hidden").GetValue<int>().Should().Be(3072);
        r.Sources["mlp1.hidden"].Should().Be("default (Phi3Config via llm_config.architectures)");
        var unknown = () => HfConfigReaders.Read(HfFolder.FromText("/x", """
            {"model_type": "internvl_chat", "ps_version": "v2", "llm_config": {"architectures": ["MysteryForCausalLM"]}}
            """));
        unknown.Should().Throw<GraphException>().WithMessage("/x/config.json: llm_config.hidden_size is missing*MysteryForCausalLM*");
    }

    [Theory]
    [InlineData("Qwen__Qwen2.5-VL-3B-Instruct", 2048)]
    [InlineData("Qwen__Qwen2.5-VL-7B-Instruct", 3584)]
    public void Qwen2_5_vl_reads_its_own_vision_config(string dir, int merger)
    {
        var r = Read(dir, "config.json");
        r.Family.Should().Be("qwen25vl");
        At(r.Config, "vit.out_hidden_size").GetValue<int>().Should().Be(merger);
        At(r.Config, "vit.embed_dim").GetValue<int>().Should().Be(1280);
        r.Sources["vit.embed_dim"].Should().Be("config.json:vision_config.hidden_size");
        At(r.Config, "vit.fullatt_block_indexes").AsArray().Select(x => x!.GetValue<int>()).Should().Equal(7, 15, 23, 31);
        var arch = ModelForge.Graphs.Architectures.ArchitectureRegistry.Get("qwen25vl");
        using var doc = System.Text.Json.JsonDocument.Parse(r.Config.ToJsonString());
        arch.Build(doc.RootElement, new ModelForge.Graphs.Architectures.BuildRequest()).ParameterCount.Should().BeGreaterThan(600_000_000);
    }

    [Fact]
    public void Qwen2_5_vl_3b_folder_on_disk_reads_and_accepts_its_processor()
    {
        // The real files as a folder (HfFolder.Open, as export reads them), not as text: the processor's patch 14,
        // temporal patch 2 and merge 2 agree with vision_config's, so the folder is accepted.
        string dir = Repo.Fixture("hf-configs", "Qwen__Qwen2.5-VL-3B-Instruct");
        var r = HfConfigReaders.Read(HfFolder.Open(dir)!);
        r.Family.Should().Be("qwen25vl");
        (At(r.Config, "vit.patch_size").GetValue<int>(), At(r.Config, "vit.temporal_patch_size").GetValue<int>(),
            At(r.Config, "vit.spatial_merge_size").GetValue<int>()).Should().Be((14, 2, 2));
        foreach (var (field, value) in new[] { ("patch_size", 14), ("temporal_patch_size", 2), ("merge_size", 2) })
        {
            r.Preprocessing[field]!.GetValue<int>().Should().Be(value);
            r.Sources["preprocessing." + field].Should().Be("preprocessor_config.json:" + field);
        }
        r.Sources["vit.patch_size"].Should().Be("config.json:vision_config.patch_size");
        r.Preprocessing["max_pixels"]!.GetValue<int>().Should().Be(12_845_056);
    }

    /// <summary>
    /// Both Qwen families go through one processor check (Qwen2VlHfConfig.ReadProcessor): the real folder with one
    /// processor field changed is refused, naming the processor file, its field and the vision_config field it contradicts.
    /// </summary>
    [Theory]
    [InlineData("Qwen__Qwen2.5-VL-3B-Instruct", "preprocessor_config.json", "patch_size", 16,
        "patch_size is 16 but the vision tower's patch size is 14 (vision_config.patch_size)")]
    [InlineData("Qwen__Qwen2.5-VL-3B-Instruct", "preprocessor_config.json", "temporal_patch_size", 1,
        "temporal_patch_size is 1 but the vision tower's is 2 (vision_config.temporal_patch_size)")]
    [InlineData("Qwen__Qwen2.5-VL-3B-Instruct", "preprocessor_config.json", "merge_size", 3,
        "merge_size is 3 but the vision tower's spatial_merge_size is 2 (vision_config.spatial_merge_size)")]
    [InlineData("Qwen__Qwen2-VL-7B-Instruct", "preprocessor_config.partial.json", "patch_size", 16,
        "patch_size is 16 but the vision tower's patch size is 14 (vision_config.patch_size)")]
    [InlineData("Qwen__Qwen2-VL-7B-Instruct", "preprocessor_config.partial.json", "temporal_patch_size", 1,
        "temporal_patch_size is 1 but the vision tower's is 2 (vision_config.temporal_patch_size)")]
    [InlineData("Qwen__Qwen2-VL-7B-Instruct", "preprocessor_config.partial.json", "merge_size", 3,
        "merge_size is 3 but the vision tower's spatial_merge_size is 2 (vision_config.spatial_merge_size)")]
    public void A_qwen_processor_that_disagrees_with_the_tower_is_refused(string dir, string processor, string field, int value,
        string problem)
    {
        string folder = Repo.Fixture("hf-configs", dir);
        var pre = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, processor)))!.AsObject();
        pre[field] = value;
        var read = () => HfConfigReaders.Read(HfFolder.FromText(folder, File.ReadAllText(Path.Combine(folder, "config.json")),
            "preprocessor_config.json", pre.ToJsonString()));
        read.Should().Throw<GraphException>().Which.Message.Should().Be($"{Path.Combine(folder, "preprocessor_config.json")}: {problem}");
    }

    [Fact]
    public void Deepseek_ocr_2_is_told_apart_from_ocr_1_by_the_vision_model_name()
    {
        var r = Read("deepseek-ai__DeepSeek-OCR-2", "config.partial.json", "processor_config.partial.json", "processor_config.json");
        r.Family.Should().Be("deepencoder2");
        r.Recognized.Should().Be("architectures 'DeepseekOCR2ForCausalLM'");
        At(r.Config, "sam.net3_channels").GetValue<int>().Should().Be(896);
        At(r.Config, "qwen2.hidden_size").GetValue<int>().Should().Be(896);
        r.Sources["qwen2.hidden_size"].Should().Be("config.json:vision_config.width.qwen2-0-5b.dim");
        r.Sources["projector.input_dim"].Should().Be("config.json:projector_config.input_dim");
        r.Sources["preprocessing.downsample_ratio"].Should().Be("processor_config.json:downsample_ratio");
        // Same model_type as OCR 1: only vision_config.model_name separates them.
        var ocr1 = Read("deepseek-ai__DeepSeek-OCR", "config.json");
        ocr1.Family.Should().Be("deepencoder");
    }

    [Fact]
    public void Unknown_model_types_are_named()
    {
        var read = () => HfConfigReaders.Read(HfFolder.FromText("/x",
            """{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"""));
        read.Should().Throw<GraphException>().WithMessage("/x/config.json: model_type 'llama' and architectures name no family*");
    }
}
