using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Passes;

/// <summary>
/// f32 row-major kernels for the ops constant folding may evaluate at export time (layout and elementwise ops on
/// constants). Semantics equal the back-ends' (numpy broadcasting, ONNX Slice/Pad/Concat); shapes are fully known.
/// </summary>
internal static class HostKernels
{
    /// <summary>Ops <see cref="Evaluate"/> implements.</summary>
    public static bool CanEvaluate(Op op) => op is Transpose or Reshape or Slice or Concat or Pad or Add or Sub or Mul or Div or Neg
        or Sqrt or Sigmoid or Identity or Cast { To: DataType.Float32 or DataType.Float16 or DataType.BFloat16 };

    /// <summary>The op applied to f32 data of the given (known) input shapes; the result has <paramref name="outShape"/>.</summary>
    public static float[] Evaluate(Op op, IReadOnlyList<float[]> x, IReadOnlyList<long[]> shapes, long[] outShape) => op switch
    {
        Transpose t => TransposeData(x[0], shapes[0], t.Perm),
        Reshape or Identity => (float[])x[0].Clone(),
        // A cast to f16/bf16 rounds when the initializer is encoded in that type; the f32 values stay as they are.
        Cast => (float[])x[0].Clone(),
        Slice s => SliceData(x[0], shapes[0], Norm(s.Axis, shapes[0].Length), s.Start, outShape[Norm(s.Axis, shapes[0].Length)]),
        Concat c => ConcatData(x, shapes, Norm(c.Axis, shapes[0].Length)),
        Pad p => PadData(x[0], shapes[0], p.Pads, outShape),
        Add => Broadcast(x, shapes, outShape, (a, b) => a + b),
        Sub => Broadcast(x, shapes, outShape, (a, b) => a - b),
        Mul => Broadcast(x, shapes, outShape, (a, b) => a * b),
        Div => Broadcast(x, shapes, outShape, (a, b) => a / b),
        Neg => x[0].Select(v => -v).ToArray(),
        Sqrt => x[0].Select(MathF.Sqrt).ToArray(),
        Sigmoid => x[0].Select(v => 1f / (1f + MathF.Exp(-v))).ToArray(),
        _ => throw new NotSupportedException($"constant folding cannot evaluate {op.Kind}"),
    };

    private static int Norm(int axis, int rank) => axis < 0 ? axis + rank : axis;

    private static long[] Strides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Output axis i is input axis perm[i]; a 2-D transpose (every Linear weight) is done in cache blocks.</summary>
    public static float[] TransposeData(float[] x, long[] shape, int[] perm)
    {
        var result = new float[x.Length];
        if (perm.Length == 2 && perm[0] == 1)
        {
            long rows = shape[0], cols = shape[1];
            const int Block = 64;
            for (long r0 = 0; r0 < rows; r0 += Block)
                for (long c0 = 0; c0 < cols; c0 += Block)
                    for (long r = r0; r < Math.Min(r0 + Block, rows); r++)
                        for (long c = c0; c < Math.Min(c0 + Block, cols); c++)
                            result[c * rows + r] = x[r * cols + c];
            return result;
        }
        var inStrides = Strides(shape);
        var outShape = perm.Select(p => shape[p]).ToArray();
        var srcStride = perm.Select(p => inStrides[p]).ToArray();
        var idx = new long[perm.Length];
        for (long o = 0; o < x.LongLength; o++)
        {
            long src = 0;
            for (int i = 0; i < idx.Length; i++) src += idx[i] * srcStride[i];
            result[o] = x[src];
            for (int i = idx.Length - 1; i >= 0 && ++idx[i] == outShape[i]; i--) idx[i] = 0;
        }
        return result;
    }

    private static float[] SliceData(float[] x, long[] shape, int axis, long start, long length)
    {
        long inner = shape.Skip(axis + 1).Aggregate(1L, (a, d) => a * d), outer = shape.Take(axis).Aggregate(1L, (a, d) => a * d);
        var result = new float[outer * length * inner];
        for (long o = 0; o < outer; o++)
            Array.Copy(x, (o * shape[axis] + start) * inner, result, o * length * inner, length * inner);
        return result;
    }

    private static float[] ConcatData(IReadOnlyList<float[]> xs, IReadOnlyList<long[]> shapes, int axis)
    {
        long inner = shapes[0].Skip(axis + 1).Aggregate(1L, (a, d) => a * d), outer = shapes[0].Take(axis).Aggregate(1L, (a, d) => a * d);
        var result = new float[xs.Sum(a => a.LongLength)];
        long pos = 0;
        for (long o = 0; o < outer; o++)
            for (int k = 0; k < xs.Count; k++)
            {
                long n = shapes[k][axis] * inner;
                Array.Copy(xs[k], o * n, result, pos, n);
                pos += n;
            }
        return result;
    }

    private static float[] PadData(float[] x, long[] shape, long[] pads, long[] outShape)
    {
        var result = new float[outShape.Aggregate(1L, (a, d) => a * d)];
        var outStrides = Strides(outShape);
        var idx = new long[shape.Length];
        for (long i = 0; i < x.LongLength; i++)
        {
            long dst = 0;
            for (int a = 0; a < shape.Length; a++) dst += (idx[a] + pads[a]) * outStrides[a];
            result[dst] = x[i];
            for (int a = shape.Length - 1; a >= 0 && ++idx[a] == shape[a]; a--) idx[a] = 0;
        }
        return result;
    }

    private static float[] Broadcast(IReadOnlyList<float[]> x, IReadOnlyList<long[]> shapes, long[] outShape, Func<float, float, float> f)
    {
        int rank = outShape.Length;
        long[] StridesFor(long[] s)
        {
            var padded = Enumerable.Repeat(1L, rank - s.Length).Concat(s).ToArray();
            var st = Strides(padded);
            for (int i = 0; i < rank; i++) if (padded[i] == 1) st[i] = 0;
            return st;
        }
        long[] sa = StridesFor(shapes[0]), sb = StridesFor(shapes[1]);
        var result = new float[outShape.Aggregate(1L, (a, d) => a * d)];
        var idx = new long[rank];
        for (long o = 0; o < result.LongLength; o++)
        {
            long ia = 0, ib = 0;
            for (int i = 0; i < rank; i++) { ia += idx[i] * sa[i]; ib += idx[i] * sb[i]; }
            result[o] = f(x[0][ia], x[1][ib]);
            for (int i = rank - 1; i >= 0 && ++idx[i] == outShape[i]; i--) idx[i] = 0;
        }
        return result;
    }
}
