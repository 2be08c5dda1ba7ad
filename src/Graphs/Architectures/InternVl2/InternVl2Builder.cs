using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Numerics;

namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>
/// InternVL 2.0's vision path: InternViT (patch conv, class token, position table resized bicubic WITHOUT antialias to the
/// tile's patch grid, pre-norm layers with layer scale, no final norm) -> drop CLS -> pixel_shuffle (v2) -> mlp1.
/// Each batch row is one tile (448x448 crops of dynamic_preprocess plus the thumbnail), so the batch axis is the tile axis.
/// Weight keys are the released checkpoint's (vision_model.*, mlp1.{0,1,3}.*). Reference: OpenGVLab InternVL
/// modeling_intern_vit.py (InternVisionModel) and modeling_internvl_chat.py (extract_feature, pixel_shuffle, mlp1).
/// Outputs: vit_last_hidden_state [T, 1+g², C] (the last layer), image_features [T, (g/k)², P].
/// </summary>
public static class InternVl2Builder
{
    /// <summary>Builds the graph for square tiles of <paramref name="imageSize"/> pixels; the tile axis is named
    /// <paramref name="tileSymbol"/>.</summary>
    public static Graph Build(InternVl2Config cfg, int imageSize, string tileSymbol = "B", DataType computeType = DataType.Float32)
    {
        cfg.Validate();
        var (grid, tokenGrid) = cfg.Grids(imageSize);
        var v = cfg.Vit;
        var b = new GraphBuilder("internvl2", computeType);
        b.Graph.Metadata["architecture"] = "internvl2";
        b.Graph.Metadata["image_size"] = imageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var pixels = b.Input("pixel_values", Dim.Sym(tileSymbol), 3, imageSize, imageSize);

        IReadOnlyList<Value> states;
        using (b.Scope("vision_model")) states = InternVit(b, cfg, pixels, grid);
        b.Output("vit_last_hidden_state", states[^1]);                                     // [T, 1+g², C]
        // extract_feature: last_hidden_state for select_layer -1, else hidden_states[select_layer].
        var selected = states[cfg.SelectLayer < 0 ? states.Count + cfg.SelectLayer : cfg.SelectLayer];

        Dim t = pixels.Shape[0];
        long c = v.HiddenSize, gg = (long)grid * grid;
        var patches = b.Slice(selected, 1, 1, 1 + gg);                                     // [T, g², C] (CLS dropped)
        var square = b.Reshape(patches, t, grid, grid, c);                                 // [T, g, g, C] row-major patch grid
        var shuffled = PixelShuffle(b, square, cfg.ShuffleFactor);                         // [T, g/k, g/k, C k²]
        long k2c = c * cfg.ShuffleFactor * cfg.ShuffleFactor;
        var tokens = b.Reshape(shuffled, t, (long)tokenGrid * tokenGrid, k2c);             // [T, (g/k)², C k²]
        b.Trace("pixel_shuffle", tokens);

        Value features;
        using (b.Scope("mlp1"))
        {
            var normed = b.LayerNorm("0", tokens, k2c, 1e-5);                              // nn.LayerNorm default eps
            var h = b.Gelu(b.Linear("1", normed, k2c, cfg.Mlp1.Hidden));                   // [T, (g/k)², P]
            features = b.Linear("3", h, cfg.Mlp1.Hidden, cfg.Mlp1.Hidden);                 // [T, (g/k)², P]
        }
        b.Output("image_features", features);
        return b.Graph;
    }

    /// <summary>
    /// InternVisionModel: pixels [T, 3, S, S] -> hidden states as the reference's encoder_states: [0] = embeddings,
    /// [i] = output of layer i (1-based), each [T, 1+g², C].
    /// </summary>
    private static IReadOnlyList<Value> InternVit(GraphBuilder b, InternVl2Config cfg, Value pixels, int grid)
    {
        var v = cfg.Vit;
        Dim t = pixels.Shape[0];
        long c = v.HiddenSize;
        Value x;
        using (b.Scope("embeddings"))
        {
            var patches = b.Conv2d("patch_embedding", pixels, 3, c, v.PatchSize, v.PatchSize);   // [T, C, g, g] (conv with bias)
            var cls = b.Expand(b.Weight("class_embedding", 1, 1, c), t, 1, c);                    // [T, 1, C]
            x = b.Concat(1, cls, b.FlattenSpatial(patches));                                      // [T, 1+g², C]
            var table = b.Weight("position_embedding", 1, 1L + (long)v.PosGrid * v.PosGrid, c);   // [1, 1+G², C]
            // _get_pos_embed: F.interpolate(bicubic, align_corners=False, NO antialias) to the tile's grid, class row kept;
            // an export-time constant for the exported grid.
            x = b.Add(x, PositionTables.ResizeWithClassRow(b, table, v.PosGrid, grid, c, "position_embedding.resized",
                ResampleSpec.TorchBicubic));
        }
        b.Trace("vit.embeddings", x);
        var states = new List<Value> { x };
        bool separate = cfg.CheckpointLayout != "original";
        for (int i = 0; i < v.NumLayers; i++)
        {
            using (b.Scope($"encoder.layers.{i}")) x = InternVitLayer.Apply(b, x, v, separate);
            b.Trace($"vit.layers.{i}", x);
            states.Add(x);
        }
        return states;
    }

    /// <summary>
    /// modeling_internvl_chat.py pixel_shuffle (ps_version v2, scale = 1/k) on x [N, a, b, C] (a = patch rows, which the
    /// reference calls "w"). Net effect: out[n, i, j, (dr, dc, ch)] = x[n, k*i + dr, k*j + dc, ch], i.e. a row-major grid of
    /// k x k patch blocks with channels ordered (row offset, column offset, channel). v1 would skip the last permute.
    /// </summary>
    public static Value PixelShuffle(GraphBuilder b, Value x, int k)
    {
        Dim n = x.Shape[0];
        long a = x.Shape[1].Value, w = x.Shape[2].Value, c = x.Shape[3].Value;
        x = b.Reshape(x, n, a, w / k, c * k);               // view: [N, a, b/k, C k]      (k neighbouring columns merged)
        x = b.Transpose(x, 0, 2, 1, 3);                      // permute(0,2,1,3): [N, b/k, a, C k]
        x = b.Reshape(x, n, w / k, a / k, c * k * k);       // view: [N, b/k, a/k, C k²]   (k neighbouring rows merged)
        return b.Transpose(x, 0, 2, 1, 3);                   // v2 permute(0,2,1,3): [N, a/k, b/k, C k²]
    }
}
