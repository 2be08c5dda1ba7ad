using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// Names and sizes of a packed-qkv multi-head self-attention module. <paramref name="SeparateQkv"/> names the three
/// checkpoint linears (HF CLIP's q_proj, k_proj, v_proj) when the checkpoint stores them apart: they are then packed
/// into the qkv projection at export time (see <see cref="Layers.PackedLinear"/>), so the attention math is one code path.
/// </summary>
public sealed record AttentionOptions(long Dim, int Heads, string Qkv = "qkv", string Proj = "proj", bool QkvBias = true,
    IReadOnlyList<string>? SeparateQkv = null)
{
    /// <summary>Channels per head (Dim / Heads).</summary>
    public long HeadDim => Dim / Heads;
}

/// <summary>
/// Multi-head self-attention as plain ops (q k^T * scale + bias -> softmax -> v), equal to PyTorch's
/// scaled_dot_product_attention math path; a fusion pass may turn it into a runtime's fused kernel.
/// </summary>
public static class Attention
{
    /// <summary>
    /// x [N, S, C] -> [N, S, C]. The qkv projection is packed [3C, C] with q, k, v stacked in that order, each
    /// laid out [heads, head_dim]. <paramref name="bias"/> receives q [N, heads, S, d] and returns an additive
    /// bias broadcastable to the scores [N, heads, S, S] (SAM's decomposed relative positions), or null.
    /// <paramref name="rotary"/>, when given, maps q and k [N, heads, S, d] to their rotated forms before the scores
    /// (Qwen2-VL's 2D RoPE); it is applied to q first, then to k.
    /// </summary>
    public static Value SelfAttention(this GraphBuilder b, Value x, AttentionOptions o, Func<Value, Value?>? bias = null,
        Func<Value, Value>? rotary = null)
    {
        if (o.Dim % o.Heads != 0) throw new GraphException($"{b.Prefix}: dim {o.Dim} is not divisible by {o.Heads} heads");
        Dim n = x.Shape[0], s = x.Shape[1];
        var qkv = o.SeparateQkv is { } parts
            ? b.PackedLinear(o.Qkv, parts, x, o.Dim, o.Dim, o.QkvBias)             // [N, S, 3C], same layout as a packed qkv
            : b.Linear(o.Qkv, x, o.Dim, 3 * o.Dim, o.QkvBias);                    // [N, S, 3C]
        Value Head(int i)
        {
            var part = b.Slice(qkv, -1, i * o.Dim, (i + 1) * o.Dim);           // [N, S, C]
            var split = b.Reshape(part, n, s, o.Heads, o.HeadDim);               // [N, S, h, d]
            return b.Transpose(split, 0, 2, 1, 3);                               // [N, h, S, d]
        }
        var (q, k, v) = (Head(0), Head(1), Head(2));
        if (rotary is not null) (q, k) = (rotary(q), rotary(k));
        var scores = b.Mul(b.MatMul(q, b.Transpose(k, 0, 1, 3, 2)), (float)(1.0 / Math.Sqrt(o.HeadDim))); // [N, h, S, S]
        if (bias?.Invoke(q) is { } extra) scores = b.Add(scores, extra);
        var ctx = b.MatMul(b.Softmax(scores, -1), v);                            // [N, h, S, d]
        var merged = b.Reshape(b.Transpose(ctx, 0, 2, 1, 3), n, s, o.Dim);      // [N, S, C]
        return b.Linear(o.Proj, merged, o.Dim, o.Dim);
    }
}
