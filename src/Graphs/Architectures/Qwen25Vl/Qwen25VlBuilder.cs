using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen25Vl;

/// <summary>
/// Qwen2.5-VL's vision tower (transformers' Qwen2_5_VisionTransformerPretrainedModel) for ONE frame: NaViT with
/// window attention, RMSNorm, SwiGLU MLPs and an RMSNorm PatchMerger.
/// <para>
/// One frame per call (<see cref="Qwen25VlArchitecture.PlanCalls"/>): windows and full attention never cross a frame,
/// and a frame's windows are a batch axis W of their own; frames of a video on a second batch axis would need the
/// product F*W as one axis, which dims (monomials, see <see cref="Dim"/>) cannot express. Every attention is then plain
/// batched attention ([1, N, C] for full blocks, [W, S, C] for window blocks, the standard MatMul/Mul/Add/Softmax/MatMul).
/// </para>
/// Inputs (N = 4*M patches of the frame, M tokens; all host-computed from the grid, see <see cref="Qwen25VlWindows"/>):
/// pixel_values [1, 4*M, 1176] (processor order); rotary_cos, rotary_sin [4*M, head_dim] in WINDOW order;
/// window_order [4*M] (i64), window_slots [S*W] (i64), window_rows [4*M] (i64), window_bias [W, 1, 1, S];
/// token_order [M] (i64). Output: image_features [1, M, out_hidden_size] in processor order.
/// Traces: patch_embed (processor order), blocks.N and merger in the original's window order.
/// </summary>
public static class Qwen25VlBuilder
{
    /// <summary>The symbol of the frame's output tokens; the patch axis is merge² times it.</summary>
    public const string TokenSymbol = "M";

    /// <summary>The symbol of the frame's window count.</summary>
    public const string WindowSymbol = "W";

    /// <summary>Builds the tower in the given compute type.</summary>
    public static Graph Build(Qwen25VlVisionConfig c, DataType computeType = DataType.Float32)
    {
        c.Validate();
        var b = new GraphBuilder("qwen25vl", computeType);
        b.Graph.Metadata["architecture"] = "qwen25vl";
        long e = c.EmbedDim;
        int d = c.HeadDim, s = c.WindowSlots;
        Dim m = Dim.Sym(TokenSymbol), n = m * c.MergeUnit, windows = Dim.Sym(WindowSymbol);
        var pixels = b.Input("pixel_values", 1, n, c.PatchValues);
        var cos = b.Input("rotary_cos", n, d);
        var sin = b.Input("rotary_sin", n, d);
        var order = b.IndexInput("window_order", n);
        var slots = b.IndexInput("window_slots", windows * s);
        var rows = b.IndexInput("window_rows", n);
        var keyBias = b.Input("window_bias", windows, 1, 1, s);
        var tokenOrder = b.IndexInput("token_order", m);

        var x = Qwen2VlBuilder.PatchEmbed(b, pixels, e, c.InChannels, c.TemporalPatchSize, c.PatchSize);   // [1, N, E]
        x = b.Gather(x, order, axis: 1);                                                    // [1, N, E] window order

        // The rotary tables of the padded windows, shared by every window block: [W, 1, S, d] (broadcast over heads).
        Value Windowed(Value table) => b.Reshape(b.Gather(table, slots), windows, 1, s, d);
        Value? cosW = null, sinW = null, maskW = null;
        var attn = new AttentionOptions(e, c.NumHeads);
        for (int i = 0; i < c.Depth; i++)
        {
            bool full = c.FullattBlockIndexes.Contains(i);
            // The key bias expanded once to [W, 1, S, S] (W*S² = N*S values, linear in N): ONNX Attention-23 (what the
            // attention fusion writes at opset 23) wants the mask's query axis spelled out, as ONNX Runtime checks it.
            if (!full && cosW is null) (cosW, sinW, maskW) = (Windowed(cos), Windowed(sin), b.Expand(keyBias, windows, 1, s, s));
            using (b.Scope($"blocks.{i}"))
            {
                var normed = RmsNorm(b, "norm1", x, e, c.RmsNormEps);
                Value a;
                using (b.Scope("attn"))
                    a = full
                        ? b.SelfAttention(normed, attn, rotary: qk => Qwen2VlBuilder.Rotate(b, qk, cos, sin, d))
                        : WindowAttention(b, normed, attn, slots, rows, maskW!, cosW!, sinW!, windows, s, d);
                x = b.Add(x, a);
                var normed2 = RmsNorm(b, "norm2", x, e, c.RmsNormEps);
                Value mlp;
                using (b.Scope("mlp"))
                    mlp = SwiGlu(b, normed2, e, c.IntermediateSize);
                x = b.Add(x, mlp);
            }
            b.Trace($"blocks.{i}", x);
        }

        Value merged;
        using (b.Scope("merger"))
        {
            // ln_q per patch, then view(-1, 4E): a unit's 4 patches stay consecutive rows in window order too.
            var folded = b.Reshape(RmsNorm(b, "ln_q", x, e, c.RmsNormEps), 1, m, e * c.MergeUnit);      // [1, M, 4E]
            var h = b.Gelu(b.Linear("mlp.0", folded, e * c.MergeUnit, e * c.MergeUnit));                 // nn.GELU(): exact erf
            merged = b.Linear("mlp.2", h, e * c.MergeUnit, c.OutHiddenSize);                              // [1, M, out]
        }
        b.Trace("merger", merged);
        b.Output("image_features", b.Gather(merged, tokenOrder, axis: 1));                    // processor order
        return b.Graph;
    }

    /// <summary>
    /// Attention inside each window: x [1, N, C] (window order) -> W padded windows [W, S, C] -> batched attention with
    /// the empty slots masked as keys (<paramref name="keyBias"/> [W, 1, S, S]) -> back to [1, N, C]. Padded query rows
    /// compute garbage that window_rows drops.
    /// </summary>
    private static Value WindowAttention(GraphBuilder b, Value x, AttentionOptions o, Value slots, Value rows, Value keyBias,
        Value cos, Value sin, Dim windows, int s, int d)
    {
        var padded = b.Reshape(b.Gather(x, slots, axis: 1), windows, s, o.Dim);             // [W, S, C]
        var y = b.SelfAttention(padded, o, _ => keyBias, qk => Qwen2VlBuilder.Rotate(b, qk, cos, sin, d));
        return b.Gather(b.Reshape(y, 1, windows * s, o.Dim), rows, axis: 1);                // [1, N, C]
    }

    /// <summary>Qwen2RMSNorm (weight only, statistics in f32): x [..., C].</summary>
    private static Value RmsNorm(GraphBuilder b, string scope, Value x, long dim, double eps)
    {
        using var _ = b.Scope(scope);
        return b.RmsNorm(x, b.Weight("weight", dim), eps);
    }

    /// <summary>Qwen2_5_VLMLP with bias: down_proj(silu(gate_proj(x)) * up_proj(x)), silu(g) = g * sigmoid(g).</summary>
    private static Value SwiGlu(GraphBuilder b, Value x, long dim, long hidden)
    {
        var gate = b.Linear("gate_proj", x, dim, hidden);
        var up = b.Linear("up_proj", x, dim, hidden);
        return b.Linear("down_proj", b.Mul(b.Mul(gate, b.Sigmoid(gate)), up), hidden, dim);
    }
}
