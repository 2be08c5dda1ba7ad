using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>
/// Qwen2-VL's vision tower (transformers' Qwen2VisionTransformerPretrainedModel) over a packed batch of patches.
/// <para>
/// The packed axis: every image / frame contributes h*w patches, h and w multiples of the merge size, so the patch count
/// is always merge² * M, M being the number of output tokens. Dims are monomials (see <see cref="Dim"/>), so the axis is
/// written <c>4*M</c> (merge 2) rather than N: the merger's fold to [N/4, 4C] is then the exact [M, 4C].
/// </para>
/// Inputs: pixel_values [4*M, 1176] (packed rows as the processor emits them), rotary_cos and rotary_sin [4*M, head_dim],
/// attention_bias [4*M, 4*M] (all three from grid_thw on the host: <see cref="Qwen2VlPositions"/>).
/// Outputs: last_hidden_state [4*M, embed_dim] (after the blocks), image_features [M, hidden_size] (after the merger).
/// Weight keys drop the checkpoint's "visual." (see <see cref="Qwen2VlArchitecture"/>).
/// </summary>
public static class Qwen2VlBuilder
{
    /// <summary>The symbol of the output-token axis; the patch axis is merge² times it.</summary>
    public const string TokenSymbol = "M";

    /// <summary>Builds the tower in the given compute type.</summary>
    public static Graph Build(Qwen2VlVisionConfig c, DataType computeType = DataType.Float32)
    {
        c.Validate();
        var b = new GraphBuilder("qwen2vl", computeType);
        b.Graph.Metadata["architecture"] = "qwen2vl";
        long e = c.EmbedDim;
        int d = c.HeadDim;
        Dim m = Dim.Sym(TokenSymbol), n = m * c.MergeUnit;
        var pixels = b.Input("pixel_values", n, c.PatchValues);
        var cos = b.Input("rotary_cos", n, d);
        var sin = b.Input("rotary_sin", n, d);
        var bias = b.Input("attention_bias", n, n);

        Value x;
        using (b.Scope("patch_embed.proj"))
        {
            // Conv3d with kernel = stride = the whole [3, 2, 14, 14] patch, no bias: one dot product per patch row, i.e.
            // [N, 1176] x [1176, E] with the kernel flattened in the same (c, t, y, x) order as the rows.
            var w = b.Weight("weight", e, c.InChannels, c.TemporalPatchSize, c.PatchSize, c.PatchSize);
            x = b.MatMul(pixels, b.Transpose(b.Reshape(w, e, c.PatchValues), 1, 0));       // [N, E]
        }
        b.Trace("patch_embed", x);

        // The shared attention works on [batch, S, C]: the packed patches are one sequence; the bias keeps frames apart.
        x = b.Reshape(x, 1, n, e);                                                          // [1, N, E]
        var opts = new VitBlockOptions(e, c.NumHeads, (long)(e * c.MlpRatio), Activations.Parse(c.Activation), c.LayerNormEps);
        for (int i = 0; i < c.Depth; i++)
        {
            using (b.Scope($"blocks.{i}"))
                x = VitBlock.Apply(b, x, opts, normed => b.SelfAttention(normed, opts.AttentionOptions, _ => bias, qk => Rotate(b, qk, cos, sin, d)));
            b.Trace($"blocks.{i}", x);
        }
        var hidden = b.Reshape(x, n, e);                                                     // [N, E]
        b.Output("last_hidden_state", hidden);

        Value features;
        using (b.Scope("merger"))
        {
            // ln_q per patch, then view(-1, 4E): the 4 patches of a merge window are consecutive rows (packing order).
            var folded = b.Reshape(b.LayerNorm("ln_q", hidden, e, c.LayerNormEps), m, e * c.MergeUnit);   // [M, 4E]
            var h = b.Gelu(b.Linear("mlp.0", folded, e * c.MergeUnit, e * c.MergeUnit));                   // nn.GELU(): exact erf
            features = b.Linear("mlp.2", h, e * c.MergeUnit, c.HiddenSize);                                 // [M, hidden]
        }
        b.Output("image_features", features);
        return b.Graph;
    }

    /// <summary>
    /// apply_rotary_pos_emb_vision: x [1, heads, N, d] -> x * cos + rotate_half(x) * sin, cos/sin [N, d] broadcast over
    /// heads; rotate_half(x) = [-x2, x1] with x1, x2 the halves of the last axis.
    /// </summary>
    private static Value Rotate(GraphBuilder b, Value x, Value cos, Value sin, int d)
    {
        var x1 = b.Slice(x, -1, 0, d / 2);
        var x2 = b.Slice(x, -1, d / 2, d);
        var rotated = b.Concat(-1, b.Neg(x2), x1);
        return b.Add(b.Mul(x, cos), b.Mul(rotated, sin));
    }
}
