using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Vary;

/// <summary>
/// Vary's dual tower (vary_qwen_vary.py): SAM-B on sam_pixel_values (vision_tower_high, fixed size, net_3 flattened) and
/// HF CLIPVisionModel on clip_pixel_values (vision_tower, hidden_states[vision_select_layer] without CLS), each projected
/// (mm_projector_vary / mm_projector) and concatenated on channels, CLIP first. Builder keys drop the checkpoint's
/// "transformer." (see <see cref="VaryAdapter"/>). Outputs: sam_features [B, N, C3], clip_features [B, N, D],
/// image_features [B, N, 2P] (N = 256 released).
/// </summary>
public static class VaryBuilder
{
    /// <summary>Builds the graph; the inputs have the fixed trained sizes (no position interpolation in either tower).</summary>
    public static Graph Build(VaryConfig cfg, string batchSymbol = "B", DataType computeType = DataType.Float32)
    {
        cfg.Validate();
        var b = new GraphBuilder("vary", computeType);
        b.Graph.Metadata["architecture"] = "vary";
        b.Graph.Metadata["image_size"] = cfg.Sam.ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var batch = Dim.Sym(batchSymbol);
        var clipPixels = b.Input("clip_pixel_values", batch, 3, cfg.Clip.ImageSize, cfg.Clip.ImageSize);
        var samPixels = b.Input("sam_pixel_values", batch, 3, cfg.Sam.ImageSize, cfg.Sam.ImageSize);

        Value sam;
        using (b.Scope("vision_tower_high")) sam = SamEncoder.Build(b, cfg.Sam, samPixels);   // [B, C3, g2, g2]
        var samFeatures = b.FlattenSpatial(sam);                                                // [B, g2², C3] (flatten(2).permute(0,2,1))
        b.Output("sam_features", samFeatures);

        Value clip;
        using (b.Scope("vision_tower.vision_model"))
        {
            var tokens = ClipTower.PatchEmbed(b, cfg.Clip, clipPixels);                        // [B, g², D]
            int selected = cfg.SelectedState;
            // Layers after the selected state are built (their weights are the checkpoint's) and pruned away; not traced.
            clip = ClipTower.HiddenStates(b, cfg.Clip, tokens, cfg.Clip.PosGrid, ClipLayout.HuggingFace,
                tracedLayers: selected)[selected]; // [B, 1+g², D]
        }
        var clipFeatures = b.Slice(clip, 1, 1, 1 + cfg.Tokens);                                // [B, g², D] (CLS dropped)
        b.Output("clip_features", clipFeatures);

        var clipProjected = b.Linear("mm_projector", clipFeatures, cfg.Projector.ClipIn, cfg.Projector.OutputDimEach);   // [B, N, P]
        var samProjected = b.Linear("mm_projector_vary", samFeatures, cfg.Projector.SamIn, cfg.Projector.OutputDimEach); // [B, N, P]
        b.Output("image_features", b.Concat(-1, clipProjected, samProjected));                 // [B, N, 2P]
        return b.Graph;
    }
}
