using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ModelForge.Validators.Torch;

/// <summary>
/// The op-by-op kernels of <see cref="TorchEvaluator"/>: one exhaustive switch over the IR's op kinds, each mapped to
/// the TorchSharp call with ONNX Runtime's semantics. Inputs were checked by the IR's shape inference and the
/// evaluator's input validation, so every call here gets shapes and dtypes libtorch accepts (libtorch errors
/// terminate the process; they must never be the way a mistake is reported).
/// </summary>
internal static class TorchOps
{
    /// <summary>The op kinds <see cref="Apply"/> handles; <see cref="TorchEvaluator.Unsupported"/> reads this.</summary>
    internal static IReadOnlySet<Type> Supported { get; } = new HashSet<Type>
    {
        typeof(Add), typeof(Sub), typeof(Mul), typeof(Div), typeof(Neg), typeof(Sqrt), typeof(Sigmoid), typeof(Gelu),
        typeof(Identity), typeof(Cast), typeof(MatMul), typeof(Conv2d), typeof(LayerNorm), typeof(Softmax),
        typeof(Reshape), typeof(Transpose), typeof(Concat), typeof(Slice), typeof(Pad), typeof(Expand),
        typeof(ScaledDotProductAttention),
        typeof(RmsNorm), typeof(Gather),
    };

    /// <summary>
    /// Applies one op. <paramref name="outShape"/> is the node's output shape evaluated under the run's symbol
    /// bindings (Reshape and Expand use it as their concrete target); <paramref name="evalType"/> maps an IR
    /// element type to the type the evaluator computes in (the precision override). Returns new tensors, never
    /// one of <paramref name="x"/> itself (the caller frees inputs after their last use).
    /// </summary>
    internal static Tensor Apply(Op op, IReadOnlyList<Tensor> x, long[] outShape, Func<DataType, ScalarType> evalType) => op switch
    {
        Add => x[0].add(x[1]),
        Sub => x[0].sub(x[1]),
        Mul => x[0].mul(x[1]),
        // ONNX Div truncates integers; torch's default is true division (it would return floats).
        Div => IsFloat(x[0]) ? x[0].div(x[1]) : x[0].div(x[1], RoundingMode.trunc),
        Neg => x[0].neg(),
        Sqrt => x[0].sqrt(),
        Sigmoid => x[0].sigmoid(),
        // ONNX Gelu(approximate="none"|"tanh") == torch gelu(approximate="none"|"tanh").
        Gelu g => F.gelu(x[0], g.Tanh ? TorchSharp.Modules.GELU.Approximate.tanh : TorchSharp.Modules.GELU.Approximate.none),
        // alias(): a new handle on the same storage, so freeing the input's handle leaves the output valid.
        Identity => x[0].alias(),
        Cast c => x[0].to(evalType(c.To), copy: true),
        MatMul => torch.matmul(x[0], x[1]),
        Conv2d c => F.conv2d(x[0], x[1], x.Count > 2 ? x[2] : null,
            strides: [c.StrideH, c.StrideW], padding: [c.PadH, c.PadW], dilation: [1, 1], groups: c.Groups),
        // Statistics in f16/bf16 only where a precision plan says so: the formula in that type (libtorch's kernel would upcast).
        LayerNorm n when n.Statistics != DataType.Float32 && x[0].dtype == evalType(n.Statistics) => LowPrecisionLayerNorm(x, n.Epsilon),
        LayerNorm n => Float32Island(x, t => F.layer_norm(t[0], [t[0].shape[^1]], t[1], t[2], n.Epsilon)),
        Softmax s => Float32Island(x, t => t[0].softmax(Axis(t[0], s.Axis))),
        // SDPA's math path with an additive float mask; scores and softmax in f32 for f16/bf16 inputs (fp32 island).
        ScaledDotProductAttention a => Float32Island(x, t => Sdpa(t, a.Scale)),
        // x * rsqrt(mean(x², -1) + eps) * scale, statistics in f32 for f16/bf16 inputs (as transformers' Qwen2RMSNorm).
        RmsNorm n => Float32Island(x, t => t[0].mul(t[0].pow(2).mean([-1L], keepdim: true).add(n.Epsilon).rsqrt()).mul(t[1])),
        Gather g => GatherChecked(x[0], x[1], Axis(x[0], g.Axis), outShape),
        // outShape is the IR's target with symbols bound and a -1 already inferred: [.., d_i, ..] == target.
        Reshape => x[0].reshape(outShape),
        // A strided view; consumers accept it and ToHost makes it contiguous, so no copy is forced here.
        Transpose t => x[0].permute(t.Perm.Select(p => (long)p).ToArray()),
        Concat c => torch.cat(x.ToArray(), Axis(x[0], c.Axis)),
        // Slice [Start, End) with End clamped to the axis size (the IR checked Start < clamped End).
        Slice s => x[0].narrow(Axis(x[0], s.Axis), s.Start, Math.Min(s.End, x[0].shape[Axis(x[0], s.Axis)]) - s.Start),
        Pad p => F.pad(x[0], TorchPads(p.Pads), PaddingModes.Constant, 0.0),
        // Stride-0 view of the evaluated target, e.g. cls [1, 1, C] -> [B, 1, C].
        Expand => x[0].expand(outShape),
        _ => throw new NotSupportedException($"the TorchSharp evaluator has no kernel for {op.Kind}"),
    };

    /// <summary>
    /// ONNX pads [b_0, .., b_{r-1}, e_0, .., e_{r-1}] -> torch's pairs from the LAST axis backwards
    /// [b_{r-1}, e_{r-1}, b_{r-2}, e_{r-2}, ..]. Leading axes with no padding are left out (torch allows fewer pairs).
    /// </summary>
    internal static long[] TorchPads(long[] onnxPads)
    {
        int rank = onnxPads.Length / 2;
        int first = 0;
        while (first < rank && onnxPads[first] == 0 && onnxPads[first + rank] == 0) first++;
        var pads = new List<long>(2 * rank);
        for (int axis = rank - 1; axis >= first; axis--)
        {
            pads.Add(onnxPads[axis]);
            pads.Add(onnxPads[axis + rank]);
        }
        // All-zero pads: one (0, 0) pair for the last axis keeps torch's argument non-empty.
        return pads.Count > 0 ? pads.ToArray() : [0, 0];
    }

    /// <summary>
    /// Runs <paramref name="f"/> in f32 when the input is f16/bf16 (the precision plan's "fp32 islands" for LayerNorm
    /// and Softmax: upcast all inputs, compute, downcast to the input's type); other types compute as they are.
    /// </summary>
    private static Tensor Float32Island(IReadOnlyList<Tensor> x, Func<Tensor[], Tensor> f)
    {
        var type = x[0].dtype;
        if (type is not (ScalarType.Float16 or ScalarType.BFloat16)) return f(x.ToArray());
        // The upcast copies and the f32 result are temporaries of this scope; only the downcast leaves it.
        using var scope = NewDisposeScope();
        var result = f(x.Select(t => t.to(ScalarType.Float32)).ToArray()).to(type);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>(x - mean) / sqrt(var + eps) * scale + bias with every intermediate in the input's (low) type.</summary>
    private static Tensor LowPrecisionLayerNorm(IReadOnlyList<Tensor> x, double eps)
    {
        using var scope = NewDisposeScope();
        var centered = x[0].sub(x[0].mean([-1L], keepdim: true));
        var variance = centered.mul(centered).mean([-1L], keepdim: true);
        var result = centered.div(variance.add(eps).sqrt()).mul(x[1]).add(x[2]);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// torch scaled_dot_product_attention(q, k, v, attn_mask) with the op's scale: TorchSharp 0.107's SDPA has no scale
    /// argument and uses 1/sqrt(d), so q is pre-multiplied by Scale * sqrt(d) (exact for the default scale).
    /// </summary>
    private static Tensor Sdpa(Tensor[] t, double scale)
    {
        double d = t[0].shape[^1];
        double factor = scale * Math.Sqrt(d);
        using var q = Math.Abs(factor - 1) < 1e-12 ? t[0].alias() : t[0].mul(factor);
        // The mask broadcasts to [N, h, S, T] (checked by the IR); expand it so libtorch sees the full shape.
        using var mask = t.Length > 3 ? t[3].expand(q.shape[0], q.shape[1], q.shape[2], t[1].shape[2]) : null;
        return F.scaled_dot_product_attention(q, t[1], t[2], mask);
    }

    /// <summary>
    /// index_select over the flattened indices, reshaped to the ONNX Gather shape. Index values are checked in .NET first:
    /// an out-of-range index inside libtorch would terminate the process instead of raising.
    /// </summary>
    private static Tensor GatherChecked(Tensor data, Tensor indices, long axis, long[] outShape)
    {
        long size = data.shape[axis];
        var flat = indices.reshape(-1);
        if (flat.numel() > 0)
        {
            using var lo = flat.min();
            using var hi = flat.max();
            long min = lo.item<long>(), max = hi.item<long>();
            if (min < 0 || max >= size)
                throw new ArgumentException($"Gather indices must lie in [0, {size}) along axis {axis}, got values {min}..{max}");
        }
        return data.index_select(axis, flat).reshape(outShape);
    }

    private static long Axis(Tensor t, int axis) => axis < 0 ? axis + t.dim() : axis;

    private static bool IsFloat(Tensor t) => t.dtype.ToDataType().IsFloat();
}
