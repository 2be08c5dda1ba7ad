using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>numpy matmul: [..., M, K] x [..., K, N] -> [..., M, N] with broadcast batch dims (rank >= 2 both).</summary>
public sealed record MatMul : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 2, 2);
        var (a, b) = (inputs[0], inputs[1]);
        SameType(a, b, "MatMul");
        FloatType(a, "MatMul input");
        if (a.Shape.Rank < 2 || b.Shape.Rank < 2) throw new GraphException($"MatMul needs rank >= 2, got {a.Shape} x {b.Shape}");
        Dim k1 = a.Shape[^1], k2 = b.Shape[^2];
        if (k1 != k2) throw new GraphException($"inner dimensions differ: {a.Shape} x {b.Shape}");
        var batch = Shape.Broadcast(new Shape(a.Shape.Dims.Take(a.Shape.Rank - 2)), new Shape(b.Shape.Dims.Take(b.Shape.Rank - 2)));
        return One(a.DType, new Shape(batch.Dims.Append(a.Shape[^2]).Append(b.Shape[^1])));
    }
}

/// <summary>
/// 2-D convolution, NCHW: inputs x [N, Cin, H, W], weight [Cout, Cin/groups, kH, kW], optional bias [Cout].
/// Output [N, Cout, (H + 2*pad - kH)/stride + 1, ...] (floor), symmetric zero padding.
/// </summary>
public sealed record Conv2d(int StrideH, int StrideW, int PadH, int PadW, int Groups = 1) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 2, 3);
        var (x, w) = (inputs[0], inputs[1]);
        Rank(x, 4, "Conv2d input");
        Rank(w, 4, "Conv2d weight");
        SameType(x, w, "Conv2d");
        FloatType(x, "Conv2d input");
        if (StrideH < 1 || StrideW < 1 || PadH < 0 || PadW < 0 || Groups < 1) throw new GraphException($"bad attributes {this}");
        long cin = x.Shape[1].Value, cout = w.Shape[0].Value;
        if (cin % Groups != 0 || cout % Groups != 0 || w.Shape[1].Value * Groups != cin)
            throw new GraphException($"weight {w.Shape} does not fit input channels {cin} with groups {Groups}");
        if (inputs.Count == 3 && (inputs[2].Shape.Rank != 1 || inputs[2].Shape[0].Value != cout))
            throw new GraphException($"bias must be [{cout}], got {inputs[2].Shape}");
        long oh = (x.Shape[2].Value + 2 * PadH - w.Shape[2].Value) / StrideH + 1;
        long ow = (x.Shape[3].Value + 2 * PadW - w.Shape[3].Value) / StrideW + 1;
        if (oh < 1 || ow < 1) throw new GraphException($"input {x.Shape} is smaller than the kernel {w.Shape}");
        return One(x.DType, new Shape(x.Shape[0], cout, oh, ow));
    }
}
