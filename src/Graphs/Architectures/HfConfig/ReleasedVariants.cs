using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.HfConfig;

/// <summary>
/// A released checkpoint of a built family: its hub name, the config.json fields that set the vision path (in the hub's
/// own format, read through the family's <see cref="IHfConfigReader"/> like a downloaded folder), and where they come from.
/// </summary>
/// <param name="Name">Hub repository ("Qwen/Qwen2-VL-7B-Instruct").</param>
/// <param name="Family">--arch name.</param>
/// <param name="Tower">The vision tower in words.</param>
/// <param name="ConfigJson">config.json (the vision-relevant subset).</param>
/// <param name="Source">Provenance of those fields.</param>
public sealed record ReleasedVariant(string Name, string Family, string Tower, string ConfigJson, string Source)
{
    /// <summary>The variant's config in its family's fixture.json format, with per-field sources.</summary>
    public HfResolved Resolve() => HfConfigReaders.Read(HfFolder.FromText($"<{Name}>", ConfigJson));

    /// <summary>Vision parameters of the graph built from the config (every tensor the graph reads), no weights needed.</summary>
    public long VisionParameters()
    {
        var r = Resolve();
        var arch = ArchitectureRegistry.Get(Family);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Config.ToJsonString());
        return arch.Build(doc.RootElement, new BuildRequest()).ParameterCount;
    }
}

/// <summary>
/// The released variants of the built families (shown by `modelforge archs` and in README). Configs marked "seen"
/// are copies of real hub files (fixtures/hf-configs, from /work/shared/hf-configs); the others are reconstructed from
/// the model cards' tower + language-model pairing, which fixes every vision shape (tower config + LLM width for the
/// projector).
/// </summary>
public static class ReleasedVariants
{
    private const string Vit300M = """
        "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
          "image_size": 448, "patch_size": 14, "qkv_bias": true, "qk_normalization": false, "norm_type": "layer_norm",
          "layer_norm_eps": 1e-06, "hidden_act": "gelu"}
        """;

    private const string Vit6B = """
        "vision_config": {"hidden_size": 3200, "num_hidden_layers": 45, "num_attention_heads": 25, "intermediate_size": 12800,
          "image_size": 448, "patch_size": 14, "qkv_bias": false, "qk_normalization": true, "norm_type": "rms_norm",
          "layer_norm_eps": 1e-06, "hidden_act": "gelu"}
        """;

    private const string Card = "reconstructed: tower config as InternViT's released config (300M: InternVL3-1B dump; 6B-V1-5: 45 layers, "
        + "per the transformers-native converter config) + the model card's LLM width";

    private static string InternVl(string vit, string llmArch, int llmHidden) => $$"""
        {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5, "force_image_size": 448,
         "select_layer": -1, "ps_version": "v2", "dynamic_image_size": true, "use_thumbnail": true, "max_dynamic_patch": 12,
         {{vit}},
         "llm_config": {"architectures": ["{{llmArch}}"], "hidden_size": {{llmHidden}} } }
        """;

    private static string Qwen(int lmHidden, string vision) =>
        """{"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl","""
        + $$""" "hidden_size": {{lmHidden}}, "vision_config": """ + vision + "}";

    /// <summary>All variants, family by family.</summary>
    public static IReadOnlyList<ReleasedVariant> All { get; } =
    [
        new("deepseek-ai/DeepSeek-OCR", "deepencoder", "SAM-B 1024 + CLIP-L (fed SAM features) + linear 2048->1280", """
            {"architectures": ["DeepseekOCRForCausalLM"], "model_type": "deepseek_vl_v2", "candidate_resolutions": [[1024, 1024]],
             "global_view_pos": "head", "tile_tag": "2D",
             "projector_config": {"input_dim": 2048, "model_type": "mlp_projector", "n_embed": 1280, "projector_type": "linear"},
             "vision_config": {"image_size": 1024, "mlp_ratio": 3.7362, "model_name": "deeplip_b_l", "model_type": "vision",
               "width": {"clip-l-14-224": {"heads": 16, "image_size": 224, "layers": 24, "patch_size": 14, "width": 1024},
                         "sam_vit_b": {"downsample_channels": [512, 1024], "global_attn_indexes": [2, 5, 8, 11], "heads": 12, "layers": 12,
                                       "width": 768}}}}
            """, "seen: verbatim hub config.json (vision fields)"),
        new("deepseek-ai/DeepSeek-OCR-2", "deepencoder2", "SAM-B 1024 -> Qwen2-0.5B as encoder (896) + linear 896->1280", """
            {"architectures": ["DeepseekOCR2ForCausalLM"], "model_type": "deepseek_vl_v2", "candidate_resolutions": [[1024, 1024]],
             "vision_config": {"image_size": 1024, "mlp_ratio": 3.7362, "model_name": "deepencoderv2", "model_type": "vision",
               "width": {"sam_vit_b": {"width": 768, "layers": 12, "heads": 12, "global_attn_indexes": [2, 5, 8, 11],
                 "downsample_channels": [512, 1024]}, "qwen2-0-5b": {"dim": 896}}},
             "projector_config": {"input_dim": 896, "n_embed": 1280, "projector_type": "linear", "model_type": "mlp_projector"}}
            """, "seen: partial hub config.json (vision_config, projector_config); encoder depth/heads not in the file"),
        new("HaoranWei/Vary (Vary-base)", "vary", "SAM-B 1024 + CLIP-L/14 224, 2 x 2048 (Qwen-7B)",
            """{"model_type": "vary", "hidden_size": 4096, "vision_select_layer": -2}""",
            "reconstructed: Vary code (vary_qwen_vary.py) + Qwen-7B width; no real Vary config.json was available"),
        new("Ucas-HaoranWei/Vary-toy", "vary", "SAM-B 1024 + CLIP-L/14 224, 2 x 1024 (Qwen-1.8B)",
            """{"model_type": "vary", "hidden_size": 2048, "vision_select_layer": -2}""",
            "reconstructed: Vary-toy code (2 x Linear(1024, 1024)) + Qwen-1.8B width; no real config.json was available"),
        new("OpenGVLab/InternVL2-1B", "internvl2", "InternViT-300M-448px + mlp1 to 896 (Qwen2-0.5B)",
            InternVl(Vit300M, "Qwen2ForCausalLM", 896), Card),
        new("OpenGVLab/InternVL2-2B", "internvl2", "InternViT-300M-448px + mlp1 to 2048 (InternLM2-1.8B)",
            InternVl(Vit300M, "InternLM2ForCausalLM", 2048),
            Card + " (llm_config.hidden_size 2048 seen in the hub config.json)"),
        new("OpenGVLab/InternVL2-4B", "internvl2", "InternViT-300M-448px + mlp1 to 3072 (Phi-3-mini)",
            InternVl(Vit300M, "Phi3ForCausalLM", 3072), Card),
        new("OpenGVLab/InternVL2-8B", "internvl2", "InternViT-300M-448px + mlp1 to 4096 (InternLM2.5-7B)",
            InternVl(Vit300M, "InternLM2ForCausalLM", 4096), Card),
        new("OpenGVLab/InternVL2-26B", "internvl2", "InternViT-6B-448px-V1-5 + mlp1 to 6144 (InternLM2-20B)",
            InternVl(Vit6B, "InternLM2ForCausalLM", 6144), Card),
        new("OpenGVLab/InternVL2-40B", "internvl2", "InternViT-6B-448px-V1-5 + mlp1 to 7168 (Nous-Hermes-2-Yi-34B)",
            InternVl(Vit6B, "LlamaForCausalLM", 7168), Card),
        new("OpenGVLab/InternVL2-Llama3-76B", "internvl2", "InternViT-6B-448px-V1-5 + mlp1 to 8192 (Hermes-2-Theta-Llama-3-70B)",
            InternVl(Vit6B, "LlamaForCausalLM", 8192), Card),
        new("Qwen/Qwen2-VL-2B-Instruct", "qwen2vl", "ViT 32 x 1280 + PatchMerger to 1536", Qwen(1536, """
            {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "hidden_size": 1536,
             "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2}
            """), "seen: hub config text fields (re-save) + a quoted 2B vision_config"),
        new("Qwen/Qwen2-VL-7B-Instruct", "qwen2vl", "ViT 32 x 1280 + PatchMerger to 3584", Qwen(3584, """
            {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "hidden_size": 3584, "patch_size": 14,
             "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2}
            """), "seen: hub config.json (reconstructed from a verbatim dict copy)"),
        new("Qwen/Qwen2-VL-72B-Instruct", "qwen2vl", "ViT 32 x 1280 + PatchMerger to 8192", Qwen(8192, """
            {"hidden_size": 8192, "in_chans": 3, "model_type": "qwen2_vl", "spatial_patch_size": 14}
            """), "seen: a re-save's minimal vision_config (other fields: Qwen2VLVisionConfig defaults)"),
    ];
}
