using System.Text.Json;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen25Vl;

/// <summary>
/// Qwen2.5-VL's config.json (model_type "qwen2_5_vl") -> the qwen25vl "vit" config. Missing vision_config keys take the
/// defaults of transformers' Qwen2_5_VLVisionConfig as ModelForge's Qwen25VlVisionConfig records them (depth 32, 1280 wide,
/// 16 heads, intermediate 3420, silu, patch 14, temporal 2, merge 2, window 112, full attention at 7/15/23/31). In
/// Qwen2.5-VL vision_config.hidden_size is the ViT width and out_hidden_size the merger output (checked against the LM
/// width). Processor: the same Qwen2VLImageProcessor fields as Qwen2-VL, and the same check that its patch, temporal patch
/// and merge sizes are the tower's.
/// </summary>
public sealed class Qwen25VlHfConfig : IHfConfigReader
{
    private const string Vision = "Qwen2_5_VLVisionConfig";

    /// <inheritdoc/>
    public string Family => "qwen25vl";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config) => HfConfigReaders.Match(config, ["qwen2_5_vl"], ["Qwen2_5_VLForConditionalGeneration"]);

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        b.Layers("vit.depth", 32, Vision, "vision_config.depth");
        b.Int("vit.embed_dim", 1280, Vision, "vision_config.hidden_size", "vision_config.embed_dim");
        b.Int("vit.num_heads", 16, Vision, "vision_config.num_heads");
        b.Int("vit.intermediate_size", 3420, Vision, "vision_config.intermediate_size");
        int merger = b.Int("vit.out_hidden_size", 3584, Vision, "vision_config.out_hidden_size");
        b.Str("vit.hidden_act", "silu", Vision, "vision_config.hidden_act");
        int patch = b.Int("vit.patch_size", 14, Vision, "vision_config.patch_size", "vision_config.spatial_patch_size");
        int temporal = b.Int("vit.temporal_patch_size", 2, Vision, "vision_config.temporal_patch_size");
        int merge = b.Int("vit.spatial_merge_size", 2, Vision, "vision_config.spatial_merge_size");
        b.Int("vit.in_channels", 3, Vision, "vision_config.in_channels", "vision_config.in_chans");
        b.Int("vit.window_size", 112, Vision, "vision_config.window_size");
        b.Ints("vit.fullatt_block_indexes", [7, 15, 23, 31], Vision, "vision_config.fullatt_block_indexes");
        Qwen2VlHfConfig.CheckMergerWidth(b, "vit.out_hidden_size", merger);
        Qwen2VlHfConfig.ReadProcessor(b, patch, temporal, merge);
        return b.Resolved(this);
    }
}
