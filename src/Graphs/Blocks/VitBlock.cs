using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>Sizes and module names of a pre-norm transformer block (names differ per family, math does not).</summary>
public sealed record VitBlockOptions(
    long Dim,
    int Heads,
    long MlpHidden,
    Activation Activation,
    double Eps,
    string Norm1 = "norm1",
    string Norm2 = "norm2",
    string Attn = "attn",
    string Mlp = "mlp",
    string Fc1 = "fc1",
    string Fc2 = "fc2",
    string Qkv = "qkv",
    string Proj = "proj",
    bool LayerScale = false,
    IReadOnlyList<string>? SeparateQkv = null,
    bool QkvBias = true)
{
    /// <summary>The attention module's options (packed qkv, or <see cref="SeparateQkv"/> packed at export time).</summary>
    public AttentionOptions AttentionOptions => new(Dim, Heads, Qkv, Proj, QkvBias, SeparateQkv);
}

/// <summary>The pre-norm ViT block shared by SAM, CLIP, InternViT and Qwen2-VL.</summary>
public static class VitBlock
{
    /// <summary>
    /// x + attn(norm1(x)), then + mlp(norm2(x)); with layer scale (InternViT) each branch is multiplied by ls1/ls2.
    /// x is [..., C]. <paramref name="attention"/> maps the normalised tokens to the attention branch output
    /// (called inside the attention scope); by default plain self-attention over x [N, S, C].
    /// </summary>
    public static Value Apply(GraphBuilder b, Value x, VitBlockOptions o, Func<Value, Value>? attention = null)
    {
        var normed = b.LayerNorm(o.Norm1, x, o.Dim, o.Eps);
        Value attn;
        using (b.Scope(o.Attn))
            attn = attention is null ? b.SelfAttention(normed, o.AttentionOptions) : attention(normed);
        if (o.LayerScale) attn = b.Mul(attn, b.Weight("ls1", o.Dim));
        x = b.Add(x, attn);
        var normed2 = b.LayerNorm(o.Norm2, x, o.Dim, o.Eps);
        Value mlp;
        using (b.Scope(o.Mlp))
            mlp = b.Mlp(normed2, o.Dim, o.MlpHidden, o.Activation, o.Fc1, o.Fc2);
        if (o.LayerScale) mlp = b.Mul(mlp, b.Weight("ls2", o.Dim));
        return b.Add(x, mlp);
    }
}
