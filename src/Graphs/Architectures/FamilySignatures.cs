namespace ModelForge.Graphs.Architectures;

/// <summary>
/// Key prefixes that identify the vision encoders of the four paradigms in their released checkpoints, including
/// families whose builders are not written yet, so a checkpoint given to the wrong --arch gets "looks like X".
/// </summary>
public static class FamilySignatures
{
    public static IReadOnlyList<(string Family, string[] Prefixes)> All { get; } =
    [
        ("deepencoder", ["model.sam_model.", "model.vision_model.", "model.projector."]),
        ("vary", ["transformer.vision_tower.", "transformer.vision_tower_high.", "transformer.mm_projector"]),
        ("internvl2", ["vision_model.embeddings.", "vision_model.encoder.layers.", "mlp1."]),
        // Qwen2-VL and Qwen2.5-VL share the visual.* prefixes; their MLPs tell them apart (fc1/fc2 vs SwiGLU gate/up/down).
        ("qwen2vl", ["visual.patch_embed.", "visual.blocks.", "visual.merger.", "visual.blocks.0.mlp.fc1."]),
        ("qwen25vl", ["visual.patch_embed.", "visual.blocks.", "visual.merger.", "visual.blocks.0.mlp.gate_proj."]),
        ("deepencoder2", ["model.sam_model.", "model.qwen2_model.", "model.projector."]),
        // transformers' renamed layouts (read by the same families through their layout adapters).
        ("internvl2", ["vision_tower.embeddings.", "vision_tower.encoder.layer.", "multi_modal_projector."]),
        ("internvl2", ["model.vision_tower.embeddings.", "model.vision_tower.encoder.layer.", "model.multi_modal_projector."]),
        ("qwen2vl", ["model.visual.patch_embed.", "model.visual.blocks.", "model.visual.merger."]),
    ];

    /// <summary>The family whose prefixes the keys match best (all of them for a full match), or null.</summary>
    public static string? Identify(IEnumerable<string> keys)
    {
        var names = keys as IReadOnlyCollection<string> ?? keys.ToArray();
        var best = All
            .Select(f => (f.Family,
                Score: f.Prefixes.Count(p => names.Any(k => k.StartsWith(p, StringComparison.Ordinal))) / (double)f.Prefixes.Length))
            .Where(x => x.Score > 0)
            .OrderByDescending(x => x.Score)
            .FirstOrDefault();
        return best.Family;
    }
}
