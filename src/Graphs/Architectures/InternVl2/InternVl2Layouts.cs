using ModelForge.Graphs.Ir;
namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>
/// The two ways InternVL checkpoints name the vision path. "original": OpenGVLab's InternVLChatModel (vision_model.*,
/// mlp1.{0,1,3}.*, packed attn.qkv). "hf" / "hf-model": transformers' InternVLForConditionalGeneration ("-hf" releases,
/// convert_internvl_weights_to_hf.py): vision_model -> vision_tower, layers -> layer, class_embedding -> cls_token,
/// position_embedding -> position_embeddings, patch_embedding -> patch_embeddings.projection, ls1/ls2 -> lambda_1/lambda_2,
/// attn.proj -> attention.projection_layer, attn -> attention (qkv split into q_proj/k_proj/v_proj), norm1/norm2 ->
/// layernorm_before/layernorm_after, mlp1.0/1/3 -> multi_modal_projector.layer_norm/linear_1/linear_2; "hf-model" is the
/// same under "model." (newer transformers save the wrapped InternVLModel).
/// </summary>
public static class InternVl2Layouts
{
    /// <summary>Layout names, as in the config's "checkpoint_layout".</summary>
    public static IReadOnlyList<string> All { get; } = ["original", "hf", "hf-model"];

    /// <summary>The adapter reading a layout.</summary>
    public static CheckpointAdapter Adapter(string layout) => layout switch
    {
        "original" => new InternVl2Adapter(),
        "hf" => Hf(""),
        "hf-model" => Hf("model."),
        _ => throw new GraphException($"checkpoint_layout '{layout}' is not one of {string.Join(", ", All)}"),
    };

    /// <summary>The layout the checkpoint's tensor names show, or null when they show none of the three.</summary>
    public static string? Detect(IReadOnlyCollection<string> keys)
    {
        bool Has(string prefix) => keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        if (Has("vision_model.encoder.layers.")) return "original";
        if (Has("model.vision_tower.encoder.layer.")) return "hf-model";
        if (Has("vision_tower.encoder.layer.")) return "hf";
        return null;
    }

    private static RenameAdapter Hf(string prefix) => new("internvl2",
    [
        (@"^vision_model\.", prefix + "vision_tower."),
        (@"\.encoder\.layers\.", ".encoder.layer."),
        (@"\.embeddings\.class_embedding$", ".embeddings.cls_token"),
        (@"\.embeddings\.position_embedding$", ".embeddings.position_embeddings"),
        (@"\.embeddings\.patch_embedding\.", ".embeddings.patch_embeddings.projection."),
        (@"\.ls(\d+)$", ".lambda_$1"),
        (@"\.attn\.proj\.", ".attention.projection_layer."),
        (@"\.attn\.", ".attention."),
        (@"\.norm1\.", ".layernorm_before."),
        (@"\.norm2\.", ".layernorm_after."),
        (@"^mlp1\.0\.", prefix + "multi_modal_projector.layer_norm."),
        (@"^mlp1\.1\.", prefix + "multi_modal_projector.linear_1."),
        (@"^mlp1\.3\.", prefix + "multi_modal_projector.linear_2."),
    ], [prefix + "vision_tower.", prefix + "multi_modal_projector."]);
}
