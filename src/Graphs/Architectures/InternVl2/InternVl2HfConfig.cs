using ModelForge.Graphs.Ir;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Graphs.Architectures.HfConfig;

namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>
/// InternVL's config.json -> the internvl2 config, in both forms:
/// <list type="bullet">
/// <item>OpenGVLab's own (model_type "internvl_chat", InternVLChatModel): vision_config read with InternVisionConfig's
/// defaults (configuration_intern_vit.py: the 6B tower: hidden 3200, 48 layers, 25 heads, intermediate 12800, rms_norm,
/// qk_normalization true, qkv_bias false, image 224, patch 14, eps 1e-6, gelu), the chat config with InternVLChatConfig's
/// (select_layer -1, force_image_size none, downsample_ratio 0.5, dynamic_image_size false, use_thumbnail false,
/// ps_version "v1", min/max_dynamic_patch 1/6); mlp1's width is llm_config.hidden_size.</item>
/// <item>transformers-native (model_type "internvl", the "-hf" releases): InternVLVisionConfig's names and defaults
/// (hidden 1024, 24 layers, 16 heads, 4096, layer_norm, use_qk_norm false, attention_bias false, image/patch [448]/[14]),
/// vision_feature_layer, downsample_ratio, text_config.hidden_size (default Qwen2Config's 4096).</item>
/// </list>
/// The tower is decided by its sizes, never by vision_config._name_or_path (300M dumps carry the 6B's name).
/// </summary>
public sealed class InternVl2HfConfig : IHfConfigReader
{
    private const string Vit = "InternVisionConfig";
    private const string Chat = "InternVLChatConfig";
    private const string HfVit = "InternVLVisionConfig";
    private const string HfChat = "InternVLConfig";

    /// <summary>Class defaults of llm_config.hidden_size by llm_config.architectures[0] (the LLM config classes InternVLChatConfig
    /// builds).</summary>
    private static readonly Dictionary<string, (int Hidden, string Class)> LlmDefaults = new(StringComparer.Ordinal)
    {
        ["InternLM2ForCausalLM"] = (4096, "InternLM2Config"),
        ["LlamaForCausalLM"] = (4096, "LlamaConfig"),
        ["Qwen2ForCausalLM"] = (4096, "Qwen2Config"),
        ["Phi3ForCausalLM"] = (3072, "Phi3Config"),
    };

    /// <inheritdoc/>
    public string Family => "internvl2";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config) =>
        HfConfigReaders.Match(config, ["internvl_chat", "internvl"], ["InternVLChatModel", "InternVLForConditionalGeneration"]);

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        var (mt, arch) = HfConfigReaders.Names(folder.Config);
        bool native = mt == "internvl" || (mt is null && arch == "InternVLForConditionalGeneration");
        int hidden, ratioK;
        double ratio;
        if (native)
        {
            int image = Square(b, "vit.image_size", 448, HfVit, "vision_config.image_size");
            Square(b, "vit.patch_size", 14, HfVit, "vision_config.patch_size");
            hidden = b.Int("vit.hidden_size", 1024, HfVit, "vision_config.hidden_size");
            b.Layers("vit.num_layers", 24, HfVit, "vision_config.num_hidden_layers");
            b.Int("vit.num_heads", 16, HfVit, "vision_config.num_attention_heads");
            b.Int("vit.ffn_hidden_size", 4096, HfVit, "vision_config.intermediate_size");
            b.Bool("vit.qkv_bias", false, HfVit, "vision_config.attention_bias");
            b.Bool("vit.qk_normalization", false, HfVit, "vision_config.use_qk_norm");
            b.Str("vit.norm_type", "layer_norm", HfVit, "vision_config.norm_type");
            b.Number("vit.layer_norm_eps", 1e-6, HfVit, "vision_config.layer_norm_eps");
            b.Str("vit.activation", "gelu", HfVit, "vision_config.hidden_act");
            ratio = b.Number("downsample_ratio", 0.5, HfChat, "downsample_ratio");
            b.Int("select_layer", -1, HfChat, "vision_feature_layer");
            b.Int("mlp1.hidden", 4096, HfChat + " text_config = Qwen2Config", "text_config.hidden_size");
            string act = b.Str("projector_hidden_act", "gelu", HfChat, "projector_hidden_act");
            if (act != "gelu") throw b.Error("projector_hidden_act", $"'{act}' is not supported (mlp1 is LayerNorm, Linear, GELU, Linear)");
            b.Drop("projector_hidden_act");
            b.Derived("tile_size", image, "vision_config.image_size (the -hf processor crops tiles of that size)");
            b.Pre("tile_size", new JsonObject { ["height"] = image, ["width"] = image }, "GotOcr2ImageProcessor", "size");
            b.Pre("crop_to_patches", false, "GotOcr2ImageProcessor", "crop_to_patches");
            b.Pre("min_patches", 1, "GotOcr2ImageProcessor", "min_patches");
            b.Pre("max_patches", 12, "GotOcr2ImageProcessor", "max_patches");
        }
        else
        {
            int image = b.Int("vit.image_size", 224, Vit, "vision_config.image_size");
            b.Int("vit.patch_size", 14, Vit, "vision_config.patch_size");
            hidden = b.Int("vit.hidden_size", 3200, Vit, "vision_config.hidden_size");
            b.Layers("vit.num_layers", 48, Vit, "vision_config.num_hidden_layers");
            b.Int("vit.num_heads", 25, Vit, "vision_config.num_attention_heads");
            b.Int("vit.ffn_hidden_size", 12800, Vit, "vision_config.intermediate_size");
            b.Bool("vit.qkv_bias", false, Vit, "vision_config.qkv_bias");
            b.Bool("vit.qk_normalization", true, Vit, "vision_config.qk_normalization");
            b.Str("vit.norm_type", "rms_norm", Vit, "vision_config.norm_type");
            b.Number("vit.layer_norm_eps", 1e-6, Vit, "vision_config.layer_norm_eps");
            b.Str("vit.activation", "gelu", Vit, "vision_config.hidden_act");
            ratio = b.Number("downsample_ratio", 0.5, Chat, "downsample_ratio");
            b.Int("select_layer", -1, Chat, "select_layer");
            // InternVLChatModel: image_size = config.force_image_size or config.vision_config.image_size.
            if (b.Find("force_image_size") is { ValueKind: not JsonValueKind.Null })
                b.Int("tile_size", image, Chat, "force_image_size");
            else
                b.Derived("tile_size", image, "force_image_size absent: vision_config.image_size, as InternVLChatModel does");
            var archs = b.Find("llm_config.architectures");
            var llmArch = archs is { ValueKind: JsonValueKind.Array } la && la.GetArrayLength() > 0
                && la[0].ValueKind == JsonValueKind.String
                ? la[0].GetString()! : null;
            if (b.Find("llm_config.hidden_size") is null)
            {
                if (llmArch is null || !LlmDefaults.TryGetValue(llmArch, out var d))
                    throw b.Error("llm_config.hidden_size",
                        $"is missing and llm_config.architectures ({llmArch ?? "missing"}) has no known default; mlp1's width needs it");
                b.Int("mlp1.hidden", d.Hidden, d.Class + " via llm_config.architectures", "llm_config.hidden_size");
            }
            else b.Int("mlp1.hidden", 0, Chat, "llm_config.hidden_size");
            string ps = b.Str("ps_version", "v1", Chat, "ps_version");
            if (ps != "v2")
                throw b.Error(b.FieldOf("ps_version"),
                    $"'{ps}' is not supported (ModelForge builds pixel_shuffle v2, which every InternVL 2.0 release uses)");
            b.Config.Remove("ps_version");
            b.Pre("dynamic_image_size", false, Chat, "dynamic_image_size");
            b.Pre("use_thumbnail", false, Chat, "use_thumbnail");
            b.Pre("min_dynamic_patch", 1, Chat, "min_dynamic_patch");
            b.Pre("max_dynamic_patch", 6, Chat, "max_dynamic_patch");
            b.Pre("template", null, Chat, "template");
        }
        b.Pre("image_mean", new JsonArray(0.485, 0.456, 0.406), "InternVL build_transform IMAGENET_MEAN", "image_mean");
        b.Pre("image_std", new JsonArray(0.229, 0.224, 0.225), "InternVL build_transform IMAGENET_STD", "image_std");
        if (!(ratio > 0 && ratio <= 1 && Math.Abs(1 / ratio - Math.Round(1 / ratio)) < 1e-9))
            throw b.Error(b.FieldOf("downsample_ratio"), $"{HfConfigBuilder.Text(ratio)} must be 1/k for an integer k");
        ratioK = (int)Math.Round(1 / ratio);
        b.Derived("mlp1.in", (long)hidden * ratioK * ratioK, $"vit.hidden_size {hidden} * (1/downsample_ratio)^2");
        return b.Resolved(this);
    }

    /// <summary>An int or a square [h, w] pair (transformers-native image_size / patch_size).</summary>
    private static int Square(HfConfigBuilder b, string target, int fallback, string defaultOf, string path)
    {
        if (b.Find(path) is { ValueKind: JsonValueKind.Array } a)
        {
            int[] v = b.Ints(target, [fallback, fallback], defaultOf, path);
            if (v.Length != 2 || v[0] != v[1]) throw b.Error(path, $"[{string.Join(", ", v)}] must be a square [n, n]");
            b.Derived(target, v[0], $"{path}[0] (square)");
            b.Sources[target] = $"config.json:{path}";
            return v[0];
        }
        return b.Int(target, fallback, defaultOf, path);
    }
}
