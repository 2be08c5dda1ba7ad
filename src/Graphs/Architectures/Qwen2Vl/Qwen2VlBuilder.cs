using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>
/// Qwen2-VL's vision tower (transformers' Qwen2VisionTransformerPretrainedModel) for the frames of ONE image or video.
/// <para>
/// The reference packs every image and frame into one sequence and attends per frame (cu_seqlens). Here the frames of
/// one image or video (they share a grid) lie on a batch axis F, each frame a sequence of h*w patches; attention over a
/// batch row needs no mask and never crosses frames, so the graph has no input that grows with the square of the tokens
/// and its attention is plain batched attention. Images of different sizes are separate calls
/// (<see cref="Qwen2VlArchitecture.PlanCalls"/>). Every frame holds merge² * M patches, M being its output tokens;
/// dims are monomials (see <see cref="Dim"/>), so the patch axis is written <c>4*M</c> (merge 2) and the merger's fold
/// to [F, M, 4C] is exact.
/// </para>
/// Inputs: pixel_values [F, 4*M, 1176] (each frame's rows in packing order), rotary_cos and rotary_sin [4*M, head_dim]
/// (one frame's table, the same for every frame: <see cref="Qwen2VlPositions"/>).
/// Outputs: last_hidden_state [F, 4*M, embed_dim] (after the blocks), image_features [F, M, hidden_size] (after the merger).
/// Weight keys drop the checkpoint's "visual." (see <see cref="Qwen2VlArchitecture"/>).
/// </summary>
public static class Qwen2VlBuilder
{
    /// <summary>The symbol of a frame's output-token axis; the patch axis is merge² times it.</summary>
    public const string TokenSymbol = "M";

    /// <summary>The symbol of the frame (batch) axis.</summary>
    public const string FrameSymbol = "F";

    /// <summary>Builds the tower in the given compute type.</summary>
    public static Graph Build(Qwen2VlVisionConfig c, DataType computeType = DataType.Float32)
    {
        c.Validate();
        var b = new GraphBuilder("qwen2vl", computeType);
        b.Graph.Metadata["architecture"] = "qwen2vl";
        long e = c.EmbedDim;
        int d = c.HeadDim;
        Dim f = Dim.Sym(FrameSymbol), m = Dim.Sym(TokenSymbol), n = m * c.MergeUnit;
        var pixels = b.Input("pixel_values", f, n, c.PatchValues);
        var cos = b.Input("rotary_cos", n, d);
        var sin = b.Input("rotary_sin", n, d);

        var x = PatchEmbed(b, pixels, e, c.InChannels, c.TemporalPatchSize, c.PatchSize);      // [F, N, E]

        // The shared attention works on [batch, S, C]: each frame is one sequence, so no mask is needed.
        var opts = new VitBlockOptions(e, c.NumHeads, (long)(e * c.MlpRatio), Activations.Parse(c.Activation), c.LayerNormEps);
        for (int i = 0; i < c.Depth; i++)
        {
            using (b.Scope($"blocks.{i}"))
                x = VitBlock.Apply(b, x, opts,
                    normed => b.SelfAttention(normed, opts.AttentionOptions, rotary: qk => Rotate(b, qk, cos, sin, d)));
            b.Trace($"blocks.{i}", x);
        }
        var hidden = x;                                                                      // [F, N, E]
        b.Output("last_hidden_state", hidden);

        Value features;
        using (b.Scope("merger"))
        {
            // ln_q per patch, then view(-1, 4E): the 4 patches of a merge window are consecutive rows (packing order).
            var folded = b.Reshape(b.LayerNorm("ln_q", hidden, e, c.LayerNormEps), f, m, e * c.MergeUnit); // [F, M, 4E]
            var h = b.Gelu(b.Linear("mlp.0", folded, e * c.MergeUnit, e * c.MergeUnit));                   // nn.GELU(): exact erf
            features = b.Linear("mlp.2", h, e * c.MergeUnit, c.HiddenSize);                                 // [F, M, hidden]
        }
        b.Output("image_features", features);
        return b.Graph;
    }

    /// <summary>
    /// patch_embed.proj (traced as "patch_embed"), a Conv3d with kernel = stride = the whole [3, 2, 14, 14] patch and no
    /// bias: one dot product per patch row, i.e. pixel rows [.., N, 1176] x [1176, E] with the kernel flattened in the same
    /// (c, t, y, x) order as the rows. Qwen2.5-VL's tower embeds its patches the same way.
    /// </summary>
    public static Value PatchEmbed(GraphBuilder b, Value pixels, long embedDim, int inChannels, int temporalPatch, int patch)
    {
        Value x;
        using (b.Scope("patch_embed.proj"))
        {
            var w = b.Weight("weight", embedDim, inChannels, temporalPatch, patch, patch);
            x = b.MatMul(pixels, b.Transpose(b.Reshape(w, embedDim, inChannels * temporalPatch * patch * patch), 1, 0));
        }
        b.Trace("patch_embed", x);
        return x;
    }

    /// <summary>
    /// apply_rotary_pos_emb_vision: x [F, heads, N, d] -> x * cos + rotate_half(x) * sin, cos/sin [N, d] broadcast over
    /// frames and heads; rotate_half(x) = [-x2, x1] with x1, x2 the halves of the last axis.
    /// </summary>
    public static Value Rotate(GraphBuilder b, Value x, Value cos, Value sin, int d)
    {
        var x1 = b.Slice(x, -1, 0, d / 2);
        var x2 = b.Slice(x, -1, d / 2, d);
        var rotated = b.Concat(-1, b.Neg(x2), x1);
        return b.Add(b.Mul(x, cos), b.Mul(rotated, sin));
    }
}
