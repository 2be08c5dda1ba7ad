using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Analysis;

/// <summary>How a runtime treats an op's output buffer (what the activation model needs to know).</summary>
public enum BufferKind
{
    /// <summary>A new buffer (MatMul, Conv, Softmax, LayerNorm, Transpose, Concat, ...).</summary>
    Fresh,

    /// <summary>
    /// May write into an input's buffer when that input dies here and has the output's size (ORT MayInplace; for binary ops
    /// the activation model requires the other operand to be a constant).
    /// </summary>
    InPlace,

    /// <summary>A view of its input (ORT's Reshape / Identity kernels alias output 0 to input 0): no new memory.</summary>
    Alias,
}

/// <summary>Cost of one node: floating-point operations and the bytes its inputs and outputs hold.</summary>
public readonly record struct NodeCost(double Flops, BufferKind Buffer);

/// <summary>
/// The analytic cost model: one exhaustive switch over op kinds (a new op kind throws here until it is given a cost; the
/// op-coverage test walks every kind of <see cref="OpCatalog"/> through it). Conventions, as in fvcore / DeepSpeed's
/// profiler but with the elementwise work counted too: a multiply-add is 2 FLOPs; MatMul [..,M,K]x[..,K,N] costs
/// 2*batch*M*K*N; Conv2d costs 2*N*Cout*OH*OW*(Cin/groups)*kH*kW (+1 per output element for the bias); elementwise ops
/// cost a fixed number of FLOPs per OUTPUT element (<see cref="PerElement"/>); data movement (reshape, transpose, slice,
/// concat, pad, expand, gather, cast, identity) costs 0 FLOPs.
/// </summary>
public static class OpCost
{
    /// <summary>
    /// FLOPs per output element of the elementwise kinds: 1 for arithmetic, sqrt and negation; sigmoid 4 (neg, exp, add,
    /// div); GELU 8 (erf or tanh polynomial, scale, add, mul); LayerNorm 7 (mean, centre, square + accumulate, normalise,
    /// scale, shift; the per-row rsqrt is negligible); RmsNorm 4 (square + accumulate, normalise, scale); Softmax 5 (max,
    /// subtract, exp, sum, divide).
    /// </summary>
    public static IReadOnlyDictionary<string, int> PerElement { get; } = new Dictionary<string, int>
    {
        ["Add"] = 1, ["Sub"] = 1, ["Mul"] = 1, ["Div"] = 1, ["Neg"] = 1, ["Sqrt"] = 1,
        ["Sigmoid"] = 4, ["Gelu"] = 8, ["LayerNorm"] = 7, ["RmsNorm"] = 4, ["Softmax"] = 5,
    };

    /// <summary>
    /// Cost of <paramref name="op"/> with concrete input and output shapes (symbols already bound).
    /// Throws <see cref="NotSupportedException"/> for an op kind without a cost (the switch must be extended).
    /// </summary>
    public static NodeCost Of(Op op, IReadOnlyList<long[]> inputs, IReadOnlyList<long[]> outputs)
    {
        long Out() => Elements(outputs[0]);
        return op switch
        {
            MatMul => new(MatMulFlops(inputs[0], outputs[0]), BufferKind.Fresh),
            Conv2d c => new(ConvFlops(c, inputs, outputs[0]), BufferKind.Fresh),
            Add or Sub or Mul or Div or Neg or Sqrt or Sigmoid or Gelu => new((double)PerElement[op.Kind] * Out(), BufferKind.InPlace),
            LayerNorm or RmsNorm or Softmax => new((double)PerElement[op.Kind] * Out(), BufferKind.Fresh),
            ScaledDotProductAttention => new(AttentionFlops(inputs, outputs[0]), BufferKind.Fresh),
            Reshape or Identity => new(0, BufferKind.Alias),
            Transpose or Concat or Slice or Pad or Expand or Cast or Gather => new(0, BufferKind.Fresh),
            _ => throw new NotSupportedException($"op kind {op.Kind} has no cost in ModelForge.Graphs.Analysis.OpCost: add a case"),
        };
    }

    /// <summary>Cost of a graph node under the given symbol bindings.</summary>
    public static NodeCost Of(Node node, IReadOnlyDictionary<string, long> bindings) =>
        Of(node.Op, node.Inputs.Select(i => i.Shape.Evaluate(bindings)).ToArray(),
            node.Outputs.Select(o => o.Shape.Evaluate(bindings)).ToArray());

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public static long Elements(long[] shape) => shape.Aggregate(1L, (a, d) => checked(a * d));

    private static double MatMulFlops(long[] a, long[] y)
    {
        long k = a[^1];
        // y = [batch..., M, N]: every output element is a K-long dot product (K multiplies, K adds).
        return 2.0 * Elements(y) * k;
    }

    /// <summary>
    /// The fused op costs what its unfused chain costs: q·kᵀ (2·S·T·d per batch and head), the scale (1 per score), the bias
    /// (1 per score, when given), softmax (5 per score) and P·v (2·S·T·dv).
    /// </summary>
    private static double AttentionFlops(IReadOnlyList<long[]> inputs, long[] y)
    {
        long[] q = inputs[0], k = inputs[1], v = inputs[2];
        double scores = (double)q[0] * q[1] * q[2] * k[2];
        return scores * (2 * q[3] + 1 + (inputs.Count == 4 ? 1 : 0) + PerElement["Softmax"] + 2 * v[3]);
    }

    /// <summary>Elements of the score tensor [N, h, S, T] of a fused attention node.</summary>
    public static long AttentionScores(IReadOnlyList<long[]> inputs) => inputs[0][0] * inputs[0][1] * inputs[0][2] * inputs[1][2];

    private static double ConvFlops(Conv2d c, IReadOnlyList<long[]> inputs, long[] y)
    {
        long[] w = inputs[1];
        // w = [Cout, Cin/groups, kH, kW]: each output element is a dot product of Cin/groups*kH*kW terms.
        double macs = (double)Elements(y) * w[1] * w[2] * w[3];
        return 2 * macs + (inputs.Count == 3 ? Elements(y) : 0);
    }
}
