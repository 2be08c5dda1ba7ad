using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.InternVl2;

/// <summary>
/// One InternVisionEncoderLayer (OpenGVLab modeling_intern_vit.py), covering both released towers:
/// InternViT-300M (LayerNorm, qkv bias, no QK norm) and InternViT-6B (InternRMSNorm, no qkv bias, QK normalization).
/// x + ls1 * attn(norm1(x)), then + ls2 * mlp(norm2(x)); x [T, S, C].
/// Kept here rather than in Blocks.VitBlock because QK normalization runs on the full q/k width BEFORE the head split,
/// which the shared attention's per-head hooks cannot express.
/// </summary>
public static class InternVitLayer
{
    /// <summary>Builder-side q/k/v names when the checkpoint stores them apart (transformers' InternVL "-hf" layout).</summary>
    public static readonly IReadOnlyList<string> SeparateQkvNames = ["q_proj", "k_proj", "v_proj"];

    /// <summary>Applies the layer under the caller's scope ("vision_model.encoder.layers.{i}"); keys as in the original model.</summary>
    public static Value Apply(GraphBuilder b, Value x, InternVitConfig v, bool separateQkv)
    {
        long c = v.HiddenSize;
        var act = Activations.Parse(v.Activation);
        var attn = Attention(b, Norm(b, "norm1", x, v), v, separateQkv);
        x = b.Add(x, v.LayerScale ? b.Mul(attn, b.Weight("ls1", c)) : attn);
        var normed = Norm(b, "norm2", x, v);
        Value mlp;
        using (b.Scope("mlp")) mlp = b.Mlp(normed, c, v.FfnHiddenSize, act);
        return b.Add(x, v.LayerScale ? b.Mul(mlp, b.Weight("ls2", c)) : mlp);
    }

    /// <summary>NORM2FN[norm_type]: nn.LayerNorm (weight, bias) or InternRMSNorm (weight only), eps = layer_norm_eps.</summary>
    private static Value Norm(GraphBuilder b, string scope, Value x, InternVitConfig v) => v.NormType == "rms_norm"
        ? Rms(b, scope, x, v.HiddenSize, v.LayerNormEps)
        : b.LayerNorm(scope, x, v.HiddenSize, v.LayerNormEps);

    private static Value Rms(GraphBuilder b, string scope, Value x, long dim, double eps)
    {
        using var _ = b.Scope(scope);
        return b.RmsNorm(x, b.Weight("weight", dim), eps);
    }

    /// <summary>
    /// InternAttention._naive_attn: qkv [T, S, 3C] (bias = qkv_bias) -> q, k, v; with qk_normalization, q and k are
    /// RMS-normalised over all C channels (q_norm / k_norm, weight [C]) before the split into heads; then softmax(q k^T
    /// * d^-0.5) v and proj (always with bias).
    /// </summary>
    private static Value Attention(GraphBuilder b, Value x, InternVitConfig v, bool separateQkv)
    {
        using var _ = b.Scope("attn");
        long c = v.HiddenSize;
        int h = v.NumHeads;
        long d = c / h;
        Dim t = x.Shape[0], s = x.Shape[1];
        var qkv = separateQkv
            ? b.PackedLinear("qkv", SeparateQkvNames, x, c, c, v.QkvBias)             // [T, S, 3C], stored q | k | v
            : b.Linear("qkv", x, c, 3 * c, v.QkvBias);                                 // [T, S, 3C]
        Value Part(int i, string? norm)
        {
            var p = b.Slice(qkv, -1, i * c, (i + 1) * c);                               // [T, S, C]
            if (norm is not null) p = Rms(b, norm, p, c, v.LayerNormEps);
            return b.Transpose(b.Reshape(p, t, s, h, d), 0, 2, 1, 3);                   // [T, h, S, d]
        }
        var q = Part(0, v.QkNormalization ? "q_norm" : null);
        var k = Part(1, v.QkNormalization ? "k_norm" : null);
        var val = Part(2, null);
        var scores = b.MatMul(b.Mul(q, (float)(1.0 / Math.Sqrt(d))), b.Transpose(k, 0, 1, 3, 2));   // [T, h, S, S]
        var ctx = b.MatMul(b.Softmax(scores, -1), val);                                              // [T, h, S, d]
        var merged = b.Reshape(b.Transpose(ctx, 0, 2, 1, 3), t, s, c);                               // [T, S, C]
        return b.Linear("proj", merged, c, c);
    }
}
