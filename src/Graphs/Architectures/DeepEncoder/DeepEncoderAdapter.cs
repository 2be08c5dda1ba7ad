namespace ModelForge.Graphs.Architectures.DeepEncoder;

/// <summary>
/// Released DeepSeek-OCR checkpoints name the encoder "model.sam_model.*", "model.vision_model.*",
/// "model.projector.*", "model.image_newline", "model.view_seperator" (sic); builder keys drop "model.".
/// </summary>
public sealed class DeepEncoderAdapter() : PrefixAdapter(
    "deepencoder",
    "model.",
    ["model.sam_model.", "model.vision_model.", "model.projector.", "model.image_newline", "model.view_seperator"],
    // CLIP's own patch embedding: DeepEncoder feeds CLIP with SAM features instead (602,112 parameters in the release).
    ["vision_model.embeddings.patch_embedding.weight"]);
