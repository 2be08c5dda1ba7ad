using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// Qwen2 decoder-layer hyperparameters (transformers' Qwen2Config fields the layers read). Defaults are Qwen2-0.5B, the
/// stack DeepSeek-OCR 2 uses as its vision encoder (24 layers, 896 wide, 14 query heads over 2 KV heads). JSON form:
/// snake_case (fixture.json's "qwen2" object). Unknown fields are ignored, so a family can keep its own fields there.
/// </summary>
public sealed record Qwen2Config
{
    /// <summary>Number of decoder layers.</summary>
    public int NumLayers { get; init; } = 24;

    /// <summary>Width of the residual stream.</summary>
    public int HiddenSize { get; init; } = 896;

    /// <summary>Query heads.</summary>
    public int NumHeads { get; init; } = 14;

    /// <summary>Key/value heads (grouped-query attention: each serves NumHeads / NumKvHeads query heads).</summary>
    public int NumKvHeads { get; init; } = 2;

    /// <summary>SwiGLU hidden width (gate_proj / up_proj outputs).</summary>
    public int IntermediateSize { get; init; } = 4864;

    /// <summary>Per-head width; null means HiddenSize / NumHeads (Qwen2's only choice).</summary>
    public int? HeadDim { get; init; }

    /// <summary>Epsilon of every RMSNorm.</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Base of the rotary frequencies.</summary>
    public double RopeTheta { get; init; } = 1_000_000;

    /// <summary>MLP activation; Qwen2 uses "silu" (x * sigmoid(x)), the only one supported.</summary>
    public string HiddenAct { get; init; } = "silu";

    /// <summary>Whether q_proj/k_proj/v_proj carry a bias (true in Qwen2; o_proj never does).</summary>
    public bool AttentionBiasQkv { get; init; } = true;

    /// <summary>Whether o_proj carries a bias (false in Qwen2).</summary>
    public bool AttentionBiasO { get; init; }

    /// <summary>The per-head width used by the layers.</summary>
    public int ResolvedHeadDim => HeadDim ?? (NumHeads > 0 ? HiddenSize / NumHeads : 0);

    /// <summary>Checks the fields on their own; throws GraphException naming the field ("qwen2.num_kv_heads ...").</summary>
    public void Validate()
    {
        Config.Require(NumLayers > 0 && HiddenSize > 0 && IntermediateSize > 0,
            "qwen2.num_layers, qwen2.hidden_size and qwen2.intermediate_size must be positive");
        Config.Require(NumHeads > 0 && HiddenSize % NumHeads == 0,
            $"qwen2.hidden_size {HiddenSize} must be divisible by qwen2.num_heads {NumHeads}");
        Config.Require(ResolvedHeadDim == HiddenSize / NumHeads,
            $"qwen2.head_dim {HeadDim} must equal hidden_size / num_heads = {HiddenSize / NumHeads}");
        Config.Require(ResolvedHeadDim % 2 == 0, $"qwen2.head_dim {ResolvedHeadDim} must be even (rotary halves)");
        Config.Require(NumKvHeads > 0 && NumHeads % NumKvHeads == 0,
            $"qwen2.num_heads {NumHeads} must be a multiple of qwen2.num_kv_heads {NumKvHeads}");
        Config.Require(RmsNormEps >= 0 && double.IsFinite(RmsNormEps), "qwen2.rms_norm_eps must be a finite number >= 0");
        Config.Require(RopeTheta > 1 && double.IsFinite(RopeTheta), "qwen2.rope_theta must be a finite number > 1");
        Config.Require(HiddenAct is "silu", $"qwen2.hidden_act '{HiddenAct}' is not supported (only 'silu', as in Qwen2)");
    }
}

/// <summary>
/// The Qwen2 decoder layer as plain ops (transformers modeling_qwen2.py, sdpa/eager math): RMSNorm -> grouped-query
/// attention with rotary positions and an additive mask -> residual, RMSNorm -> SwiGLU MLP -> residual. Weight keys are
/// the reference module names under the caller's scope (layers.N.input_layernorm, .self_attn.{q,k,v,o}_proj,
/// .post_attention_layernorm, .mlp.{gate,up,down}_proj, norm). Shared by Qwen-based towers (DeepSeek-OCR 2's encoder).
/// </summary>
public static class Qwen2Decoder
{
    /// <summary>
    /// Rotary tables cos, sin [positions, headDim] for positions 0..positions-1, computed as transformers' default
    /// Qwen2RotaryEmbedding does in float32: inv_freq = 1 / theta^(2i/d), angle = float(pos * inv_freq),
    /// emb = [angle, angle] (the halves repeated), then cos/sin. Export-time constants when positions are fixed.
    /// </summary>
    public static (float[] Cos, float[] Sin) RotaryTables(int positions, int headDim, double theta)
    {
        if (positions <= 0 || headDim <= 0 || headDim % 2 != 0)
            throw new GraphException($"rotary tables need positions > 0 and an even head_dim, got {positions}, {headDim}");
        int half = headDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
            inv[i] = 1f / MathF.Pow((float)theta, (float)(2 * i) / headDim);                 // float32, as torch
        var cos = new float[(long)positions * headDim];
        var sin = new float[(long)positions * headDim];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * inv[i];                                                     // one float32 product
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                long o = (long)p * headDim + i;
                (cos[o], cos[o + half], sin[o], sin[o + half]) = (c, c, s, s);
            }
        return (cos, sin);
    }

    /// <summary>apply_rotary_pos_emb: x [N, heads, S, d] -> x * cos + rotate_half(x) * sin; cos/sin [S, d] broadcast.</summary>
    public static Value Rotate(GraphBuilder b, Value x, Value cos, Value sin)
    {
        long d = x.Shape[^1].Value;
        var x1 = b.Slice(x, -1, 0, d / 2);
        var x2 = b.Slice(x, -1, d / 2, d);
        var rotated = b.Concat(-1, b.Neg(x2), x1);                                            // rotate_half: [-x2, x1]
        return b.Add(b.Mul(x, cos), b.Mul(rotated, sin));
    }

    /// <summary>
    /// Grouped-query self-attention (Qwen2Attention): x [N, S, C] -> [N, S, C]. q [N, h, S, d] from q_proj, k and v
    /// [N, kv, S, d] from k_proj / v_proj; rotary on q and k; k and v repeated to h heads (repeat_kv: head j reads KV head
    /// j / (h / kv)) by Reshape -> Expand -> Reshape; scores q k^T / sqrt(d) + mask; softmax; o_proj (no bias).
    /// <paramref name="mask"/> is additive, broadcastable to [N, h, S, S]; cos/sin are [S, d].
    /// </summary>
    public static Value Attention(GraphBuilder b, Value x, Qwen2Config c, Value mask, Value cos, Value sin)
    {
        Dim n = x.Shape[0], s = x.Shape[1];
        long d = c.ResolvedHeadDim, hidden = c.HiddenSize;
        int heads = c.NumHeads, kv = c.NumKvHeads, rep = heads / kv;
        Value Heads(string proj, int count)
        {
            var y = b.Linear(proj, x, hidden, count * d, c.AttentionBiasQkv);                 // [N, S, count*d]
            return b.Transpose(b.Reshape(y, n, s, count, d), 0, 2, 1, 3);                      // [N, count, S, d]
        }
        Value Repeat(Value t) => rep == 1 ? t
            : b.Reshape(b.Expand(b.Reshape(t, n, kv, 1, s, d), n, kv, rep, s, d), n, heads, s, d); // [N, h, S, d]
        var q = Rotate(b, Heads("q_proj", heads), cos, sin);
        var k = Repeat(Rotate(b, Heads("k_proj", kv), cos, sin));
        var v = Repeat(Heads("v_proj", kv));
        var scores = b.Mul(b.MatMul(q, b.Transpose(k, 0, 1, 3, 2)), (float)(1.0 / Math.Sqrt(d))); // [N, h, S, S]
        var ctx = b.MatMul(b.Softmax(b.Add(scores, mask), -1), v);                            // [N, h, S, d]
        var merged = b.Reshape(b.Transpose(ctx, 0, 2, 1, 3), n, s, hidden);                   // [N, S, C]
        return b.Linear("o_proj", merged, hidden, hidden, c.AttentionBiasO);
    }

    /// <summary>
    /// SwiGLU MLP (Qwen2MLP): down_proj(silu(gate_proj(x)) * up_proj(x)), silu(z) = z * sigmoid(z); x [..., C].
    /// <paramref name="bias"/>: whether the three linears have biases (none in Qwen2; Qwen2.5-VL's vision blocks do).
    /// </summary>
    public static Value SwiGlu(GraphBuilder b, Value x, long dim, long hidden, bool bias = false)
    {
        var gate = b.Linear("gate_proj", x, dim, hidden, bias);
        var up = b.Linear("up_proj", x, dim, hidden, bias);
        return b.Linear("down_proj", b.Mul(b.Mul(gate, b.Sigmoid(gate)), up), hidden, dim, bias);
    }

    /// <summary>One Qwen2DecoderLayer under the current scope: x [N, S, C] -> [N, S, C].</summary>
    public static Value Layer(GraphBuilder b, Value x, Qwen2Config c, Value mask, Value cos, Value sin)
    {
        var normed = RmsNorm(b, "input_layernorm", x, c.HiddenSize, c.RmsNormEps);
        Value attn;
        using (b.Scope("self_attn")) attn = Attention(b, normed, c, mask, cos, sin);
        x = b.Add(x, attn);
        var normed2 = RmsNorm(b, "post_attention_layernorm", x, c.HiddenSize, c.RmsNormEps);
        Value mlp;
        using (b.Scope("mlp")) mlp = SwiGlu(b, normed2, c.HiddenSize, c.IntermediateSize);
        return b.Add(x, mlp);
    }

    /// <summary>
    /// The Qwen2Model body without embeddings: layers.0..L-1 then the final norm; x [N, S, C] -> [N, S, C].
    /// Traces "<paramref name="trace"/>.layers.N" (each layer's output, all positions) and "<paramref name="trace"/>.norm".
    /// </summary>
    public static Value Stack(GraphBuilder b, Value x, Qwen2Config c, Value mask, Value cos, Value sin, string trace)
    {
        for (int i = 0; i < c.NumLayers; i++)
        {
            using (b.Scope($"layers.{i}")) x = Layer(b, x, c, mask, cos, sin);
            b.Trace($"{trace}.layers.{i}", x);
        }
        x = RmsNorm(b, "norm", x, c.HiddenSize, c.RmsNormEps);
        b.Trace($"{trace}.norm", x);
        return x;
    }

    /// <summary>Qwen2RMSNorm over the last axis (weight [dim]).</summary>
    public static Value RmsNorm(GraphBuilder b, string scope, Value x, long dim, double eps)
    {
        using var _ = b.Scope(scope);
        return b.RmsNorm(x, b.Weight("weight", dim), eps);
    }
}
