using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tools;

/// <summary>
/// The Qwen2-VL graph as it was before issue 10 item 4 (ModelForge commit 313ad8d), kept only to measure the difference:
/// every packed patch of a processor batch in ONE sequence [1, N, C], frames kept apart by a dense additive
/// attention_bias [N, N] input (0 inside a frame, -1e30 elsewhere). Same weights and math otherwise.
/// </summary>
internal static class LegacyDenseBiasGraph
{
    internal static Graph Build(Qwen2VlVisionConfig c)
    {
        var b = new GraphBuilder("qwen2vl-dense-bias");
        long e = c.EmbedDim;
        int d = c.HeadDim;
        Dim m = Dim.Sym("M"), n = m * c.MergeUnit;
        var pixels = b.Input("pixel_values", n, c.PatchValues);
        var cos = b.Input("rotary_cos", n, d);
        var sin = b.Input("rotary_sin", n, d);
        var bias = b.Input("attention_bias", n, n);
        Value x;
        using (b.Scope("patch_embed.proj"))
        {
            var w = b.Weight("weight", e, c.InChannels, c.TemporalPatchSize, c.PatchSize, c.PatchSize);
            x = b.MatMul(pixels, b.Transpose(b.Reshape(w, e, c.PatchValues), 1, 0));       // [N, E]
        }
        x = b.Reshape(x, 1, n, e);                                                          // [1, N, E]
        var opts = new VitBlockOptions(e, c.NumHeads, (long)(e * c.MlpRatio), Activations.Parse(c.Activation), c.LayerNormEps);
        for (int i = 0; i < c.Depth; i++)
            using (b.Scope($"blocks.{i}"))
                x = VitBlock.Apply(b, x, opts,
                    normed => b.SelfAttention(normed, opts.AttentionOptions, _ => bias, qk => Qwen2VlBuilder.Rotate(b, qk, cos, sin, d)));
        var hidden = b.Reshape(x, n, e);
        b.Output("last_hidden_state", hidden);
        using (b.Scope("merger"))
        {
            var folded = b.Reshape(b.LayerNorm("ln_q", hidden, e, c.LayerNormEps), m, e * c.MergeUnit);
            var h = b.Gelu(b.Linear("mlp.0", folded, e * c.MergeUnit, e * c.MergeUnit));
            b.Output("image_features", b.Linear("mlp.2", h, e * c.MergeUnit, c.HiddenSize));
        }
        return b.Graph;
    }

    /// <summary>The legacy inputs of one image or video: packed rows, frame tables repeated, block-diagonal bias.</summary>
    internal static Dictionary<string, HostTensor> Inputs(GridThw g, Qwen2VlVisionConfig c, float[] pixels)
    {
        var table = Qwen2VlPositions.Frame(g.H, g.W, c.HeadDim, c.RopeTheta, c.SpatialMergeSize);
        long n = g.Patches, f = g.FramePatches, d = c.HeadDim;
        var cos = new float[n * d];
        var sin = new float[n * d];
        var bias = new float[n * n];
        Array.Fill(bias, -1e30f);
        for (int t = 0; t < g.T; t++)
        {
            Array.Copy(table.Cos, 0, cos, t * f * d, f * d);
            Array.Copy(table.Sin, 0, sin, t * f * d, f * d);
            for (long i = t * f; i < (t + 1) * f; i++) Array.Clear(bias, (int)(i * n + t * f), (int)f);
        }
        return new()
        {
            ["pixel_values"] = new HostTensor([n, c.PatchValues], pixels),
            ["rotary_cos"] = new HostTensor([n, d], cos),
            ["rotary_sin"] = new HostTensor([n, d], sin),
            ["attention_bias"] = new HostTensor([n, n], bias),
        };
    }
}
