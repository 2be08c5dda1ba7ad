using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>Wrong or inconsistent Hugging Face folders: one line naming the file and the field, exit 2, nothing written.</summary>
public class HfFolderErrorTests
{
    private const string Qwen = """
        {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_size": 96,
         "vision_config": {"depth": 3, "embed_dim": 64, "num_heads": 4, "mlp_ratio": 4, "hidden_size": 96}}
        """;

    // qwen25vl-tiny's fixture.json in hub form (patch 14, temporal 2, merge 2 are the class defaults, as in the tiny fixture).
    private const string Qwen25 = """
        {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 80,
         "vision_config": {"depth": 4, "hidden_size": 64, "num_heads": 4, "intermediate_size": 96, "out_hidden_size": 80,
           "window_size": 56, "fullatt_block_indexes": [1, 3]}}
        """;

    /// <summary>The real Qwen2.5-VL-3B preprocessor_config.json, optionally with one field changed.</summary>
    private static string Qwen25Processor(string? field = null, int value = 0)
    {
        string file = Repo.Fixture("hf-configs", "Qwen__Qwen2.5-VL-3B-Instruct", "preprocessor_config.json");
        var pre = JsonNode.Parse(File.ReadAllText(file))!;
        if (field is not null) pre[field] = value;
        return pre.ToJsonString();
    }

    private static CliResult Export(TempDir tmp, string config, string weightsOf = "qwen2vl-tiny", string? preprocessor = null,
        params string[] extra)
    {
        string dir = tmp.File("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), config);
        if (preprocessor is not null) File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), preprocessor);
        File.Copy(Path.Combine(Repo.Golden(weightsOf), "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        return Support.Cli.Run(["export", "--checkpoint", dir, "--out", tmp.File("out"), .. extra]);
    }

    private static void RefusedWith(CliResult r, TempDir tmp, params string[] parts)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle(r.ToString());
        foreach (var p in parts) lines[0].Should().Contain(p);
        lines[0].Should().NotContain("   at ");
        Directory.Exists(tmp.File("out")).Should().BeFalse();
    }

    private static string With(string json, string path, JsonNode? value)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var parts = path.Split('.');
        var o = root;
        foreach (var p in parts[..^1]) o = o[p]!.AsObject();
        o[parts[^1]] = value;
        return root.ToJsonString();
    }

    [Fact]
    public void The_hub_form_of_the_tiny_qwen_config_exports() =>
        Export(new TempDir(), Qwen).ExitCode.Should().Be(0);

    [Fact]
    public void A_field_of_the_wrong_kind_names_file_and_field()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, With(Qwen, "vision_config.depth", "3")), tmp,
            "config.json: vision_config.depth must be an integer, got \"3\"");
    }

    [Fact]
    public void A_layer_count_out_of_range_is_refused_before_any_graph_is_built()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, With(Qwen, "vision_config.depth", 2_000_000_000)), tmp,
            "config.json: vision_config.depth 2000000000 is out of range (at most 1024)");
    }

    [Fact]
    public void A_merger_that_does_not_feed_the_language_model_is_inconsistent()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, With(Qwen, "hidden_size", 1536)), tmp, "config.json: vision_config.hidden_size is 96",
            "hidden_size is 1536");
    }

    [Fact]
    public void A_processor_that_disagrees_with_the_tower_names_its_file()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, Qwen, preprocessor: """{"merge_size": 3, "patch_size": 14, "temporal_patch_size": 2}"""), tmp,
            "preprocessor_config.json: merge_size is 3", "spatial_merge_size is 2");
    }

    [Fact]
    public void The_hub_form_of_the_tiny_qwen2_5_config_exports_with_the_real_processor_file()
    {
        using var tmp = new TempDir();
        var r = Export(tmp, Qwen25, weightsOf: "qwen25vl-tiny", preprocessor: Qwen25Processor());
        r.ExitCode.Should().Be(0, r.ToString());
        var manifest = JsonNode.Parse(File.ReadAllText(tmp.File("out/manifest.json")))!;
        manifest["config_sources"]!["preprocessing.merge_size"]!.GetValue<string>().Should().Be("preprocessor_config.json:merge_size");
    }

    [Theory]
    [InlineData("patch_size", 16,
        "patch_size is 16 but the vision tower's patch size is 14 (vit.patch_size (default (Qwen2_5_VLVisionConfig)))")]
    [InlineData("temporal_patch_size", 1,
        "temporal_patch_size is 1 but the vision tower's is 2 (vit.temporal_patch_size (default (Qwen2_5_VLVisionConfig)))")]
    [InlineData("merge_size", 3,
        "merge_size is 3 but the vision tower's spatial_merge_size is 2 (vit.spatial_merge_size (default (Qwen2_5_VLVisionConfig)))")]
    public void A_qwen2_5_processor_that_disagrees_with_the_tower_is_one_line_exit_2_and_writes_nothing(string field, int value,
        string problem)
    {
        using var tmp = new TempDir();
        var r = Export(tmp, Qwen25, weightsOf: "qwen25vl-tiny", preprocessor: Qwen25Processor(field, value));
        RefusedWith(r, tmp);
        r.Stderr.Trim().Should().Be($"modelforge: error: {Path.Combine(tmp.File("model"), "preprocessor_config.json")}: {problem}");
        Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Should().Equal(["model"], "not even a .partial folder is left");
    }

    [Fact]
    public void Config_and_tensor_names_of_different_families_disagree_in_one_line()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, Qwen, weightsOf: "internvl2-tiny"), tmp, "tensor names are internvl2 names",
            "config.json model_type 'qwen2_vl' says qwen2vl");
    }

    [Fact]
    public void Arch_and_config_of_different_families_disagree_in_one_line()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, Qwen, extra: ["--arch", "internvl2"]), tmp,
            "config.json: model_type 'qwen2_vl' is a qwen2vl model, but --arch is internvl2");
    }

    [Fact]
    public void A_successor_config_over_predecessor_weights_is_refused_by_the_key_check()
    {
        // Qwen2.5-VL's config over Qwen2-VL tensors: the qwen25vl graph wants gate_proj/RMSNorm tensors the file lacks.
        using var tmp = new TempDir();
        var r = Export(tmp, File.ReadAllText(Repo.Fixture("hf-configs", "Qwen__Qwen2.5-VL-7B-Instruct/config.json")));
        r.ExitCode.Should().Be(2, r.ToString());
        r.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("qwen2vl");
        Directory.Exists(tmp.File("out")).Should().BeFalse();
    }

    [Fact]
    public void A_config_json_that_is_not_json_is_named()
    {
        using var tmp = new TempDir();
        RefusedWith(Export(tmp, "{\"model_type\": \"qwen2_vl\","), tmp, "config.json: not valid JSON");
    }

    [Fact]
    public void Internvl_pixel_shuffle_v1_is_refused_with_its_field()
    {
        using var tmp = new TempDir();
        string cfg = """
            {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "force_image_size": 56,
             "vision_config": {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 256,
               "image_size": 56, "qkv_bias": true, "qk_normalization": false, "norm_type": "layer_norm"},
             "llm_config": {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 96}}
            """;
        // ps_version absent: InternVLChatConfig's default "v1", as the original loader would use.
        RefusedWith(Export(tmp, cfg, weightsOf: "internvl2-tiny"), tmp,
            "config.json: ps_version (default (InternVLChatConfig)) 'v1' is not supported");
    }

    [Fact]
    public void Config_override_is_recorded_as_such()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("override.json"), """{"vit": {"depth": 3}}""");
        var r = Export(tmp, With(Qwen, "vision_config.depth", 5), extra: ["--config", tmp.File("override.json")]);
        r.ExitCode.Should().Be(0, r.ToString());
        var manifest = JsonNode.Parse(File.ReadAllText(tmp.File("out/manifest.json")))!;
        manifest["config_sources"]!["vit.depth"]!.GetValue<string>().Should().Be("--config");
        manifest["config_sources"]!["vit.embed_dim"]!.GetValue<string>().Should().Be("config.json:vision_config.embed_dim");
        manifest["config_sources"]!["vit.patch_size"]!.GetValue<string>().Should().Be("default (Qwen2VLVisionConfig)");
        manifest["config"]!["vit"]!["depth"]!.GetValue<int>().Should().Be(3);
    }
}

/// <summary>`modelforge archs` lists every released variant with the parameter count of the graph built from its config.</summary>
public class ArchsVariantTests
{
    [Fact]
    public void Archs_lists_every_released_variant_with_its_count()
    {
        var r = Support.Cli.Run("archs");
        r.ExitCode.Should().Be(0, r.ToString());
        foreach (var v in ModelForge.Graphs.Architectures.HfConfig.ReleasedVariants.All)
            r.Stdout.Should().Contain($"  {v.Name} ({v.Family}): " +
                $"{v.VisionParameters().ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} parameters read");
        r.Stdout.Should().Contain("OpenGVLab/InternVL2-Llama3-76B (internvl2): 5,708,504,448 parameters read");
    }
}
