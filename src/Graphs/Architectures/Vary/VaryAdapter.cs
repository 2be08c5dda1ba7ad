namespace ModelForge.Graphs.Architectures.Vary;

/// <summary>
/// Vary checkpoints name the vision towers "transformer.vision_tower.*" (HF CLIP), "transformer.vision_tower_high.*" (SAM)
/// and the projections "transformer.mm_projector.*" / "transformer.mm_projector_vary.*"; builder keys drop "transformer.".
/// HF CLIP's separate q/k/v projections are declared as they are stored and packed into qkv by an export-time constant
/// (<see cref="Blocks.Layers.PackedLinear"/>), so no key needs renaming.
/// </summary>
public sealed class VaryAdapter() : PrefixAdapter(
    "vary",
    "transformer.",
    ["transformer.vision_tower.", "transformer.vision_tower_high.", "transformer.mm_projector"],
    // hidden_states[-2] is taken before post_layernorm; older transformers also saved the position_ids buffer.
    ["vision_tower.vision_model.post_layernorm.weight", "vision_tower.vision_model.post_layernorm.bias",
        "vision_tower.vision_model.embeddings.position_ids"]);
