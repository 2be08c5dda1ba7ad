namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>
/// Released InternVL 2.0 checkpoints name the vision encoder "vision_model.*" and the projector "mlp1.*"; builder keys are
/// the same names (the language model's tensors are not owned and so ignored).
/// </summary>
public sealed class InternVl2Adapter() : PrefixAdapter("internvl2", "", ["vision_model.", "mlp1."]);
