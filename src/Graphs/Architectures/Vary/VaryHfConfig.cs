using ModelForge.Graphs.Ir;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Graphs.Architectures.HfConfig;

namespace ModelForge.Graphs.Architectures.Vary;

/// <summary>
/// Vary's config.json (model_type "vary": varyConfig(QWenConfig) in vary_qwen_vary.py / vary_toy_qwen1_8.py) -> the vary
/// config. Vary hard-codes both towers in code (SAM-B 1024 px via build_sam_vit_b, CLIP-L/14 224 px, hidden_states[-2]);
/// the config only sets the language model width (hidden_size, QWenConfig default 4096), and the two projections
/// (mm_projector, mm_projector_vary) each map to half of it, concatenated on channels (Vary-base: 2 x 2048 = Qwen-7B's
/// 4096; Vary-toy: 2 x 1024 = Qwen-1.8B's 2048). vision_select_layer is read when present (default -2, as the code uses).
/// No real Vary config.json was available to this project: the field names follow the released code.
/// </summary>
public sealed class VaryHfConfig : IHfConfigReader
{
    /// <inheritdoc/>
    public string Family => "vary";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config) => HfConfigReaders.Match(config, ["vary"], ["varyQwenForCausalLM", "varyQWenForCausalLM"]);

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        int lm = b.Int("lm_hidden_size", 4096, "QWenConfig", "hidden_size");
        if (lm <= 0 || lm % 2 != 0)
            throw b.Error(b.FieldOf("lm_hidden_size"), $"{lm} must be a positive even width (two equal projections are concatenated)");
        string lmSource = b.Drop("lm_hidden_size");
        b.Derived("projector.output_dim_each", lm / 2, $"{lmSource} / 2: two projections concatenated to the language model width");
        b.Int("vision_select_layer", -2, "Vary vary_qwen_vary.py", "vision_select_layer");
        b.Pre("sam_image_size", 1024, "Vary image_processor_high (1024)");
        b.Pre("clip_image_size", 224, "Vary CLIPImageProcessor (224)");
        b.Pre("image_token_len", 256, "Vary vary_qwen_vary.py", "image_token_len");
        b.Pre("image_mean", new JsonArray(0.48145466, 0.4578275, 0.40821073), "CLIPImageProcessor OPENAI_CLIP_MEAN", "image_mean");
        b.Pre("image_std", new JsonArray(0.26862954, 0.26130258, 0.27577711), "CLIPImageProcessor OPENAI_CLIP_STD", "image_std");
        return b.Resolved(this);
    }
}
