using ModelForge.Graphs.Ir;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Graphs.Architectures.HfConfig;

namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>
/// DeepSeek-OCR's config.json (model_type "deepseek_vl_v2", vision_config.model_name "deeplip_b_l") -> the deepencoder
/// config. vision_config.width.sam_vit_b {width, layers, heads, global_attn_indexes, downsample_channels} and
/// width["clip-l-14-224"] {width, layers, heads, patch_size, image_size} give the towers, projector_config {input_dim,
/// n_embed, projector_type} the projector. Missing fields take the values DeepSeek-OCR's deepencoder.py hard-codes
/// (build_sam_vit_b: 768 wide, 12 layers, 12 heads, global [2, 5, 8, 11], 1024 px, patch 16, window 14, neck 256, net_2
/// 512, net_3 1024; build_clip_l: 1024 wide, 24 layers, 16 heads, patch 14, 224 px, FFN 4096, quick_gelu); its loader
/// reads only projector_config, so ModelForge reads the widths too and lets the checkpoint's shapes confirm them.
/// vision_config.mlp_ratio (3.7362) is not CLIP's FFN ratio (the released fc1 is 4 x 1024) and is not read.
/// Processor (processor_config.json, DeepseekVLV2Processor): candidate_resolutions, patch_size 16, downsample_ratio 4,
/// mean/std 0.5, plus config.json's tile_tag and global_view_pos.
/// </summary>
public sealed class DeepEncoderHfConfig : IHfConfigReader
{
    private const string Sam = "DeepSeek-OCR deepencoder.py build_sam_vit_b";
    private const string Clip = "DeepSeek-OCR deepencoder.py build_clip_l";
    private const string Proj = "DeepSeek-OCR MlpProjector as released";
    private const string Processor = "DeepseekVLV2Processor as released";

    /// <inheritdoc/>
    public string Family => "deepencoder";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config)
    {
        var (mt, arch) = HfConfigReaders.Names(config);
        string? name = VisionModelName(config);
        if (arch == "DeepseekOCRForCausalLM") return $"architectures '{arch}'";
        // deepseek_vl_v2 is shared by DeepSeek-OCR and OCR-2; the vision model name tells them apart.
        return mt == "deepseek_vl_v2" && name == "deeplip_b_l"
            ? "model_type 'deepseek_vl_v2' + vision_config.model_name 'deeplip_b_l'" : null;
    }

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        const string S = "vision_config.width.sam_vit_b.", C = "vision_config.width.clip-l-14-224.";
        b.Int("sam.image_size", 1024, Sam, "vision_config.image_size");
        ReadSamVitB(b, Sam);
        int[] down = b.Ints("sam.downsample_channels", [512, 1024], Sam, S + "downsample_channels");
        if (down.Length != 2)
            throw b.Error(b.FieldOf("sam.downsample_channels"), $"must hold two channel counts (net_2, net_3), got {down.Length}");
        string downSource = DownsampleToNet2(b, down);
        b.Derived("sam.net3_channels", down[1], $"{downSource}[1]");
        int clipWidth = b.Int("clip.hidden_size", 1024, Clip, C + "width");
        b.Layers("clip.num_layers", 24, Clip, C + "layers");
        b.Int("clip.num_heads", 16, Clip, C + "heads");
        b.Int("clip.patch_size", 14, Clip, C + "patch_size");
        b.Int("clip.image_size", 224, Clip, C + "image_size");
        b.Derived("clip.ffn_hidden_size", 4L * clipWidth, "4 x clip width, as build_clip_l (vision_config.mlp_ratio is not CLIP's)");
        b.Str("projector.type", "linear", Proj, "projector_config.projector_type");
        b.Int("projector.input_dim", 2048, Proj, "projector_config.input_dim");
        b.Int("projector.output_dim", 1280, Proj, "projector_config.n_embed");
        ReadProcessor(b, Processor);
        b.Pre("tile_tag", "2D", Processor, "tile_tag");
        b.Pre("global_view_pos", "head", Processor, "global_view_pos");
        return b.Resolved(this);
    }

    // The deepseek_vl_v2 config fields DeepSeek-OCR and DeepSeek-OCR 2 share (DeepEncoder2HfConfig reads them here too).

    /// <summary>vision_config.model_name when it is a string ("deeplip_b_l" for OCR 1, "deepencoderv2" for OCR 2), else null.</summary>
    public static string? VisionModelName(JsonElement config) =>
        HfConfigBuilder.Find(config, "vision_config.model_name") is { ValueKind: JsonValueKind.String } n ? n.GetString() : null;

    /// <summary>SAM ViT-B's width, layers, heads and global-attention blocks from vision_config.width.sam_vit_b.</summary>
    public static void ReadSamVitB(HfConfigBuilder b, string defaultOf)
    {
        const string S = "vision_config.width.sam_vit_b.";
        b.Int("sam.embed_dim", 768, defaultOf, S + "width");
        b.Layers("sam.depth", 12, defaultOf, S + "layers");
        b.Int("sam.num_heads", 12, defaultOf, S + "heads");
        b.Ints("sam.global_attn_indexes", [2, 5, 8, 11], defaultOf, S + "global_attn_indexes");
    }

    /// <summary>
    /// Replaces the sam.downsample_channels list just read (<paramref name="down"/>, checked by the caller) with
    /// sam.net2_channels = down[0]; returns where the list came from, for the caller's net_3.
    /// </summary>
    public static string DownsampleToNet2(HfConfigBuilder b, int[] down)
    {
        string downSource = b.Drop("sam.downsample_channels");
        b.Derived("sam.net2_channels", down[0], $"{downSource}[0]");
        return downSource;
    }

    /// <summary>The processor fields both releases share: candidate_resolutions, patch_size 16, downsample_ratio 4, mean/std 0.5.</summary>
    public static void ReadProcessor(HfConfigBuilder b, string defaultOf)
    {
        b.Pre("candidate_resolutions", new JsonArray(new JsonArray(1024, 1024)), defaultOf, "candidate_resolutions");
        b.PreInt("patch_size", 16, defaultOf, "patch_size");
        b.PreInt("downsample_ratio", 4, defaultOf, "downsample_ratio");
        b.Pre("image_mean", new JsonArray(0.5, 0.5, 0.5), defaultOf, "image_mean");
        b.Pre("image_std", new JsonArray(0.5, 0.5, 0.5), defaultOf, "image_std");
    }
}
