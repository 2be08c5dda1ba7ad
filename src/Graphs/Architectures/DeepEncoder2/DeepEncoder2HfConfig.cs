using System.Text.Json;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.DeepEncoder2;

/// <summary>
/// DeepSeek-OCR 2's config.json (model_type "deepseek_vl_v2" like OCR 1; vision_config.model_name "deepencoderv2", or
/// architectures DeepseekOCR2ForCausalLM) -> the deepencoder2 config. Read: vision_config.image_size (the global view),
/// width.sam_vit_b {width, layers, heads, global_attn_indexes, downsample_channels[0] = net_2}, width["qwen2-0-5b"].dim
/// (the Qwen2 encoder's width, which is also SAM's net_3 and the projector's input) and projector_config {input_dim,
/// n_embed, projector_type}. The config does not state the encoder's layer/head counts, FFN width or the query tables:
/// those keep ModelForge's deepencoder2 defaults, which are the released model's (Qwen2-0.5B: 24 layers, 14 heads,
/// 2 KV heads, 4864; tables 144/256), and the checkpoint's shapes confirm them. Processor: processor_config.json.
/// </summary>
public sealed class DeepEncoder2HfConfig : IHfConfigReader
{
    private const string Released = "DeepEncoder V2 as released";

    /// <inheritdoc/>
    public string Family => "deepencoder2";

    /// <inheritdoc/>
    public string? Recognize(JsonElement config)
    {
        var (mt, arch) = HfConfigReaders.Names(config);
        string? name = DeepEncoderHfConfig.VisionModelName(config);
        if (arch == "DeepseekOCR2ForCausalLM") return $"architectures '{arch}'";
        return mt is "deepseek_vl_v2" or "deepseekocr_2" && name == "deepencoderv2"
            ? $"model_type '{mt}' + vision_config.model_name 'deepencoderv2'" : null;
    }

    /// <inheritdoc/>
    public HfResolved Read(HfFolder folder)
    {
        var b = new HfConfigBuilder(folder);
        const string S = "vision_config.width.sam_vit_b.";
        b.Int("views.base_size", 1024, Released, "vision_config.image_size");
        DeepEncoderHfConfig.ReadSamVitB(b, Released);
        int[] down = b.Ints("sam.downsample_channels", [512, 896], Released, S + "downsample_channels");
        if (down.Length < 1) throw b.Error(b.FieldOf("sam.downsample_channels"), "must hold net_2's channel count");
        DeepEncoderHfConfig.DownsampleToNet2(b, down);
        // OCR 2 keeps OCR 1's [512, 1024] here, but net_3 feeds the Qwen2 encoder: its width is the encoder's dim.
        int dim = b.Int("qwen2.hidden_size", 896, Released, "vision_config.width.qwen2-0-5b.dim");
        b.Derived("sam.net3_channels", dim, "vision_config.width.qwen2-0-5b.dim (net_3 feeds the Qwen2 encoder)");
        b.Str("projector.type", "linear", Released, "projector_config.projector_type");
        b.Int("projector.input_dim", 896, Released, "projector_config.input_dim");
        b.Int("projector.output_dim", 1280, Released, "projector_config.n_embed");
        DeepEncoderHfConfig.ReadProcessor(b, Released);
        return b.Resolved(this);
    }
}
