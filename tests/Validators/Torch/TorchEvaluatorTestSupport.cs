using System.Runtime.InteropServices;
using FluentAssertions;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Tests.Support;
using ModelForge.Validators.Torch;

namespace ModelForge.Tests.Validators.Torch;

/// <summary>Helpers of the evaluator tests: an in-memory weight source, data, loop-based references, checks.</summary>
public partial class TorchEvaluatorTests
{
    private static (GraphBuilder, MemoryWeights) New() => (new GraphBuilder("test"), new MemoryWeights());

    /// <summary>Declares a weight in the builder and stores its data in the source.</summary>
    private static Value W(GraphBuilder b, MemoryWeights w, string key, float[] data, params long[] shape)
    {
        w.Add(b.Qualify(key), data, shape);
        return b.Weight(key, shape);
    }

    private static IReadOnlyDictionary<string, HostTensor> Run(GraphBuilder b, MemoryWeights w,
        params (string Name, HostTensor Tensor)[] inputs)
    {
        using var ev = new TorchEvaluator(b.Graph, w);
        return ev.Run(inputs.ToDictionary(i => i.Name, i => i.Tensor));
    }

    /// <summary>Deterministic, irregular test data: offset + scale * sin(0.7 i + 0.3).</summary>
    private static float[] Seq(int n, float scale = 1f, float offset = 0f) =>
        Enumerable.Range(0, n).Select(i => offset + scale * MathF.Sin(0.7f * i + 0.3f)).ToArray();

    /// <summary>Shape and values, |got - want| &lt;= tol * (1 + |want|), naming the first bad index.</summary>
    private static void Check(HostTensor got, long[] shape, float[] want, double tol = 1e-5)
    {
        got.Shape.Should().Equal(shape);
        got.Data.Length.Should().Be(want.Length);
        for (int i = 0; i < want.Length; i++)
            if (!(Math.Abs(got.Data[i] - want[i]) <= tol * (1 + Math.Abs(want[i]))))
                throw new Xunit.Sdk.XunitException($"element {i}: got {got.Data[i]:R}, want {want[i]:R} (tol {tol})");
    }

    /// <summary>Numpy-broadcast elementwise reference with plain index arithmetic.</summary>
    private static float[] Broadcast(long[] sa, float[] a, long[] sb, float[] b, Func<float, float, float> f)
    {
        int rank = Math.Max(sa.Length, sb.Length);
        long[] Pad(long[] s) => Enumerable.Repeat(1L, rank - s.Length).Concat(s).ToArray();
        long[] pa = Pad(sa), pb = Pad(sb), so = pa.Zip(pb, Math.Max).ToArray();
        var result = new List<float>();
        foreach (var idx in Indices(so))
            result.Add(f(a[Flat(pa, idx.Select((v, i) => pa[i] == 1 ? 0 : v).ToArray())],
                b[Flat(pb, idx.Select((v, i) => pb[i] == 1 ? 0 : v).ToArray())]));
        return result.ToArray();
    }

    /// <summary>All multi-indices of a shape, row-major order.</summary>
    private static IEnumerable<long[]> Indices(long[] shape)
    {
        long count = shape.Aggregate(1L, (p, d) => p * d);
        for (long flat = 0; flat < count; flat++)
        {
            var idx = new long[shape.Length];
            long r = flat;
            for (int i = shape.Length - 1; i >= 0; i--) { idx[i] = r % shape[i]; r /= shape[i]; }
            yield return idx;
        }
    }

    private static int Flat(long[] shape, long[] idx)
    {
        long f = 0;
        for (int i = 0; i < shape.Length; i++) f = f * shape[i] + idx[i];
        return checked((int)f);
    }

    private static long[] With(long[] idx, int axis, long v)
    {
        var c = (long[])idx.Clone();
        c[axis] = v;
        return c;
    }

    /// <summary>erf by its Maclaurin series (double; |x| &lt;= 4 here, where 60 terms are plenty).</summary>
    private static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 60; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    /// <summary>
    /// One graph holding every op kind of <see cref="OpCatalog.All"/>, on x [B, 2, 4, 4] (B symbolic), ending in a
    /// single output y [B, 4, 8].
    /// </summary>
    private static (Graph, MemoryWeights) AllOps()
    {
        var (b, w) = New();
        var B = Dim.Sym("B");
        var x = b.Input("x", B, 2, 4, 4);
        var c = b.Conv2d(x, W(b, w, "conv.w", Seq(4 * 2 * 3 * 3, 0.3f), 4, 2, 3, 3), W(b, w, "conv.b", Seq(4), 4), pad: 1); // [B,4,4,4]
        var t = b.Transpose(b.Reshape(c, B, 4, 16), 0, 2, 1);                  // [B,16,4]
        t = b.LayerNorm(t, W(b, w, "ln.w", Seq(4, 0.1f, 1f), 4), W(b, w, "ln.b", Seq(4, 0.1f), 4), 1e-5);
        var h = b.Gelu(b.MatMul(t, W(b, w, "fc.w", Seq(4 * 8, 0.5f), 4, 8)));   // [B,16,8]
        h = b.Add(h, b.Gelu(h, tanh: true));
        h = b.Sub(h, b.Mul(b.Sigmoid(h), b.Neg(h)));
        h = b.Div(h, b.Sqrt(b.Add(b.Mul(h, h), b.Scalar(1f))));
        var cls = b.Expand(W(b, w, "cls", Seq(8), 1, 1, 8), B, 1, 8);           // [B,1,8]
        var cat = b.Concat(1, cls, h);                                          // [B,17,8]
        var s = b.Softmax(b.Slice(cat, 1, 1, 17), -1);                          // [B,16,8]
        s = b.RmsNorm(s, W(b, w, "rms.w", Seq(8, 0.1f, 1f), 8), 1e-6);
        var order = b.Graph.AddInitializer("order", DataType.Int64, Shape.Known(16),
            LiteralData.OfLongs([.. Enumerable.Range(0, 16).Select(i => (long)(15 - i))]));
        s = b.Gather(s, order, 1);                                              // [B,16,8] rows reversed
        var heads = b.Transpose(b.Reshape(s, B, 16, 2, 4), 0, 2, 1, 3);         // [B,2,16,4]
        var att = b.Attention(heads, heads, heads, 0.5);                        // [B,2,16,4]
        s = b.Reshape(b.Transpose(att, 0, 2, 1, 3), B, 16, 8);
        var p = b.Pad(s, 0, 0, 0, 0, 2, 0);                                     // [B,18,8]
        var half = b.Cast(b.Slice(p, 1, 0, 4), DataType.Float16);               // [B,4,8] f16
        b.Output("y", b.Op(new Identity(), b.Cast(half, DataType.Float32)));
        return (b.Graph, w);
    }
}
