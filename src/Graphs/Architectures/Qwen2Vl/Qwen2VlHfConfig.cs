using ModelForge.Graphs.Ir;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Graphs.Architectures.HfConfig;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>
/// Qwen2-VL's config.json (model_type "qwen2_vl") -> the "vit" config. Missing vision_config keys take transformers'
/// Qwen2VLVisionConfig defaults (depth 32, embed_dim 1280, num_heads 16, mlp_ratio 4, hidden_size 3584, quick_gelu,
/// patch 14, temporal 2, merge 2, 3 channels): re-saved fine-tunes keep only non-default keys, e.g. the 72B's
/// {hidden_size 8192, in_chans 3, spatial_patch_size 14}. Older hub files spell in_channels "in_chans" and patch_size
/// "spatial_patch_size"; both are read. vision_config.hidden_size is the MERGER OUTPUT (the language model's width) and is
/// checked against the top-level / text_config hidden_size. Processor: Qwen2VLImageProcessor (min/max_pixels, patch,
/// temporal patch, merge size, CLIP mean/std), cross-checked against the vision config.
/// </summary>
public sealed class Qwen2VlHfConfig : IHfConfigReader
{
    private const string Vision = "Qwen2VLVisionConfig";
    private const string Processor = "Qwen2VLImageProcessor";

    /// <inheritdoc/>
    public string Family => "qwen2vl";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config) => HfConfigReaders.Match(config, ["qwen2_vl"], ["Qwen2VLForConditionalGeneration"]);

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        b.Layers("vit.depth", 32, Vision, "vision_config.depth");
        int embed = b.Int("vit.embed_dim", 1280, Vision, "vision_config.embed_dim");
        b.Int("vit.num_heads", 16, Vision, "vision_config.num_heads");
        b.Number("vit.mlp_ratio", 4, Vision, "vision_config.mlp_ratio");
        int merger = b.Int("vit.hidden_size", 3584, Vision, "vision_config.hidden_size", "vision_config.out_hidden_size");
        b.Str("vit.activation", "quick_gelu", Vision, "vision_config.hidden_act");
        int patch = b.Int("vit.patch_size", 14, Vision, "vision_config.patch_size", "vision_config.spatial_patch_size");
        int temporal = b.Int("vit.temporal_patch_size", 2, Vision, "vision_config.temporal_patch_size");
        int merge = b.Int("vit.spatial_merge_size", 2, Vision, "vision_config.spatial_merge_size");
        b.Int("vit.in_channels", 3, Vision, "vision_config.in_channels", "vision_config.in_chans");
        _ = embed;

        CheckMergerWidth(b, "vit.hidden_size", merger);
        ReadProcessor(b, patch, temporal, merge);
        return b.Resolved(this);
    }

    /// <summary>
    /// The merger feeds the language model: its output (<paramref name="target"/>, <paramref name="merger"/> wide) must be
    /// the LM width when the config states one (hidden_size or text_config.hidden_size). Qwen2.5-VL checks the same.
    /// </summary>
    public static void CheckMergerWidth(HfConfigBuilder b, string target, int merger)
    {
        foreach (var lm in new[] { "hidden_size", "text_config.hidden_size" })
        {
            if (b.Find(lm) is { ValueKind: JsonValueKind.Number } h && h.TryGetInt32(out int width) && width != merger)
                throw b.Error(b.FieldOf(target),
                    $"is {merger} (the merger's output) but {lm} is {width} (the language model's width); they must agree");
        }
    }

    /// <summary>
    /// Qwen2VLImageProcessor's fields (both Qwen families use it): patch, temporal patch and merge size, the pixel bounds
    /// and OpenAI CLIP's mean/std. The processor cuts the pixel_values rows the tower's patch embedding and merger consume,
    /// so its patch / temporal patch / merge size must be the tower's (<paramref name="patch"/>, <paramref name="temporal"/>,
    /// <paramref name="merge"/>, read before as vit.patch_size, vit.temporal_patch_size, vit.spatial_merge_size): a
    /// mismatch would export a graph whose inputs the runtime's preprocessing cannot produce, so it is refused naming the
    /// processor file and field. Qwen2.5-VL calls this too.
    /// </summary>
    public static void ReadProcessor(HfConfigBuilder b, int patch, int temporal, int merge)
    {
        int prePatch = b.PreInt("patch_size", 14, Processor, "patch_size");
        int preTemporal = b.PreInt("temporal_patch_size", 2, Processor, "temporal_patch_size");
        int preMerge = b.PreInt("merge_size", 2, Processor, "merge_size");
        b.PreInt("min_pixels", 56 * 56, Processor, "min_pixels", "size.shortest_edge");
        b.PreInt("max_pixels", 28 * 28 * 1280, Processor, "max_pixels", "size.longest_edge");
        b.Pre("image_mean", new JsonArray(0.48145466, 0.4578275, 0.40821073), Processor + " OPENAI_CLIP_MEAN", "image_mean");
        b.Pre("image_std", new JsonArray(0.26862954, 0.26130258, 0.27577711), Processor + " OPENAI_CLIP_STD", "image_std");
        if (prePatch != patch)
            throw b.PreError("patch_size", $"is {prePatch} but the vision tower's patch size is {patch} ({b.FieldOf("vit.patch_size")})");
        if (preTemporal != temporal)
            throw b.PreError("temporal_patch_size",
                $"is {preTemporal} but the vision tower's is {temporal} ({b.FieldOf("vit.temporal_patch_size")})");
        if (preMerge != merge)
            throw b.PreError("merge_size",
                $"is {preMerge} but the vision tower's spatial_merge_size is {merge} ({b.FieldOf("vit.spatial_merge_size")})");
    }
}
