using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>
/// Fused attention softmax(q k^T * Scale + bias) v, made by the attention-fusion pass (src/Graphs/Passes).
/// Inputs q [N, h, S, d], k [N, h, T, d], v [N, h, T, dv], optional additive float bias broadcastable to the scores
/// [N, h, S, T] (SAM's rel-pos bias, a block mask). Output [N, h, S, dv]. Semantics of ONNX Attention-23 with 4-D inputs
/// and a float attn_mask, and of torch scaled_dot_product_attention(q, k, v, attn_mask, scale).
/// </summary>
public sealed record ScaledDotProductAttention(double Scale) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 3, 4);
        var (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        for (int i = 0; i < 3; i++)
        {
            Rank(inputs[i], 4, new[] { "q", "k", "v" }[i]);
            SameType(q, inputs[i], "attention");
        }
        FloatType(q, "attention input");
        if (!(Scale > 0) || double.IsInfinity(Scale)) throw new GraphException($"scale must be positive and finite, got {Scale}");
        for (int a = 0; a < 2; a++)
            if (k.Shape[a] != q.Shape[a] || v.Shape[a] != q.Shape[a])
                throw new GraphException($"q {q.Shape}, k {k.Shape} and v {v.Shape} differ in batch or head axes");
        if (k.Shape[3] != q.Shape[3]) throw new GraphException($"q {q.Shape} and k {k.Shape} differ in head size");
        if (v.Shape[2] != k.Shape[2]) throw new GraphException($"k {k.Shape} and v {v.Shape} differ in sequence length");
        var scores = new Shape(q.Shape[0], q.Shape[1], q.Shape[2], k.Shape[2]);
        if (inputs.Count == 4)
        {
            SameType(q, inputs[3], "attention bias");
            if (inputs[3].Shape.Rank > 4 || !Shape.Broadcast(inputs[3].Shape, scores).Equals(scores))
                throw new GraphException($"bias {inputs[3].Shape} does not broadcast to the scores {scores}");
        }
        return One(q.DType, new Shape(q.Shape[0], q.Shape[1], q.Shape[2], v.Shape[3]));
    }
}
