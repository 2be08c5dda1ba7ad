using FluentAssertions;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Torch;

/// <summary>
/// The TorchSharp reference evaluator, op by op, against expectations computed here with plain loops; plus symbolic
/// batches, input validation (which must reject mistakes before libtorch sees them), precision overrides and extras.
/// </summary>
public partial class TorchEvaluatorTests(ITestOutputHelper output)
{
    [Fact]
    public void Binary_ops_broadcast_like_numpy()
    {
        var (b, w) = New();
        var x = b.Input("x", 2, 1, 3);
        float[] xd = Seq(6), yd = Seq(6, 0.5f, 2f), zd = Seq(3, 1f, 3f);
        var y = W(b, w, "y", yd, 2, 3);
        var z = W(b, w, "z", zd, 3);
        b.Output("add", b.Add(x, y));          // [2,1,3] + [2,3] -> [2,2,3]
        b.Output("sub", b.Sub(y, x));          // [2,3] - [2,1,3] -> [2,2,3]
        b.Output("mul", b.Mul(x, 2.5f));       // scalar rank 0
        b.Output("div", b.Div(x, z));          // [2,1,3] / [3]
        var r = Run(b, w, ("x", new HostTensor([2, 1, 3], xd)));

        Check(r["add"], [2, 2, 3], Broadcast([2, 1, 3], xd, [2, 3], yd, (p, q) => p + q));
        Check(r["sub"], [2, 2, 3], Broadcast([2, 3], yd, [2, 1, 3], xd, (p, q) => p - q));
        Check(r["mul"], [2, 1, 3], xd.Select(v => v * 2.5f).ToArray());
        Check(r["div"], [2, 1, 3], Broadcast([2, 1, 3], xd, [3], zd, (p, q) => p / q));
    }

    [Fact]
    public void Unary_ops_match_their_definitions()
    {
        var (b, w) = New();
        var x = b.Input("x", 2, 5);
        float[] xd = Seq(10, 2.5f);
        b.Output("neg", b.Neg(x));
        b.Output("sqrt", b.Sqrt(b.Mul(x, x)));
        b.Output("sigmoid", b.Sigmoid(x));
        b.Output("gelu", b.Gelu(x));
        b.Output("gelu_tanh", b.Gelu(x, tanh: true));
        b.Output("identity", b.Op(new Identity(), x));
        var r = Run(b, w, ("x", new HostTensor([2, 5], xd)));

        Check(r["neg"], [2, 5], xd.Select(v => -v).ToArray());
        Check(r["sqrt"], [2, 5], xd.Select(MathF.Abs).ToArray());
        Check(r["sigmoid"], [2, 5], xd.Select(v => (float)(1 / (1 + Math.Exp(-v)))).ToArray());
        Check(r["gelu"], [2, 5], xd.Select(v => (float)(0.5 * v * (1 + Erf(v / Math.Sqrt(2))))).ToArray());
        Check(r["gelu_tanh"], [2, 5],
            xd.Select(v => (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))))).ToArray());
        Check(r["identity"], [2, 5], xd);
    }

    [Fact]
    public void Cast_rounds_to_half_and_truncates_to_integers()
    {
        var (b, w) = New();
        var x = b.Input("x", 4);
        float[] xd = [1.0001f, -2.7f, 3.14159f, 65504.5f];
        b.Output("half", b.Cast(b.Cast(x, DataType.Float16), DataType.Float32));
        b.Output("bf16", b.Cast(x, DataType.BFloat16));
        b.Output("int", b.Cast(x, DataType.Int64));
        var r = Run(b, w, ("x", new HostTensor([4], xd)));

        Check(r["half"], [4], xd.Select(v => (float)(Half)v).ToArray(), 0);
        r["bf16"].DType.Should().Be(DataType.BFloat16, "outputs say which type they were computed in");
        Check(r["bf16"], [4], xd.Select(v => DataTypes.BFloat16ToSingle(DataTypes.SingleToBFloat16(v))).ToArray(), 0);
        r["int"].Longs.Should().Equal(1, -2, 3, 65504);
    }

    [Fact]
    public void MatMul_broadcasts_batch_dims()
    {
        var (b, w) = New();
        float[] ad = Seq(2 * 3 * 4), bd = Seq(4 * 5, 0.3f);
        var a = b.Input("a", 2, 3, 4);
        b.Output("y", b.MatMul(a, W(b, w, "w", bd, 4, 5)));
        var r = Run(b, w, ("a", new HostTensor([2, 3, 4], ad)));

        var want = new float[2 * 3 * 5];
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += ad[(n * 3 + i) * 4 + k] * bd[k * 5 + j];
                    want[(n * 3 + i) * 5 + j] = (float)s;
                }
        Check(r["y"], [2, 3, 5], want);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(2, 1, 1, 0, 2)] // different strides and pads per axis, grouped
    [InlineData(2, 2, 0, 1, 1)]
    public void Conv2d_matches_a_direct_convolution(int strideH, int strideW, int padH, int padW, int groups)
    {
        const int n = 2, cin = 4, h = 5, wd = 6, cout = 6, k = 3;
        var (b, w) = New();
        float[] xd = Seq(n * cin * h * wd), kd = Seq(cout * (cin / groups) * k * k, 0.2f, 0.1f), bias = Seq(cout, 1f, 0.5f);
        var x = b.Input("x", n, cin, h, wd);
        var y = b.Op(new Conv2d(strideH, strideW, padH, padW, groups), x, W(b, w, "k", kd, cout, cin / groups, k, k),
            W(b, w, "b", bias, cout));
        b.Output("y", y);
        var r = Run(b, w, ("x", new HostTensor([n, cin, h, wd], xd)));

        int oh = (h + 2 * padH - k) / strideH + 1, ow = (wd + 2 * padW - k) / strideW + 1, cpg = cin / groups, opg = cout / groups;
        var want = new float[n * cout * oh * ow];
        for (int bi = 0; bi < n; bi++)
            for (int o = 0; o < cout; o++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double s = bias[o];
                        for (int c = 0; c < cpg; c++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    int yy = i * strideH - padH + u, xx = j * strideW - padW + v;
                                    if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                                    int ci = o / opg * cpg + c;
                                    s += xd[((bi * cin + ci) * h + yy) * wd + xx] * kd[((o * cpg + c) * k + u) * k + v];
                                }
                        want[((bi * cout + o) * oh + i) * ow + j] = (float)s;
                    }
        Check(r["y"], [n, cout, oh, ow], want);
    }

    [Fact]
    public void LayerNorm_normalises_the_last_axis()
    {
        var (b, w) = New();
        const int rows = 3, c = 8;
        float[] xd = Seq(rows * c, 3f, 1f), g = Seq(c, 0.5f, 1f), beta = Seq(c, 0.1f);
        var x = b.Input("x", 1, rows, c);
        b.Output("y", b.LayerNorm(x, W(b, w, "g", g, c), W(b, w, "beta", beta, c), 1e-5));
        var r = Run(b, w, ("x", new HostTensor([1, rows, c], xd)));

        var want = new float[rows * c];
        for (int i = 0; i < rows; i++)
        {
            var row = xd.AsSpan(i * c, c).ToArray();
            double mean = row.Average(v => (double)v), var = row.Average(v => (v - mean) * (v - mean));
            for (int j = 0; j < c; j++) want[i * c + j] = (float)((row[j] - mean) / Math.Sqrt(var + 1e-5) * g[j] + beta[j]);
        }
        Check(r["y"], [1, rows, c], want);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public void Softmax_normalises_one_axis(int axis)
    {
        var (b, w) = New();
        long[] shape = [2, 3, 4];
        float[] xd = Seq(24, 4f);
        b.Output("y", b.Softmax(b.Input("x", 2, 3, 4), axis));
        var r = Run(b, w, ("x", new HostTensor(shape, xd)));

        int ax = axis < 0 ? axis + 3 : axis;
        var want = new float[24];
        foreach (var idx in Indices(shape))
        {
            double sum = 0;
            for (int t = 0; t < shape[ax]; t++) sum += Math.Exp(xd[Flat(shape, With(idx, ax, t))]);
            want[Flat(shape, idx)] = (float)(Math.Exp(xd[Flat(shape, idx)]) / sum);
        }
        Check(r["y"], shape, want);
    }

    [Fact]
    public void Reshape_binds_symbols_and_infers_minus_one()
    {
        var (b, w) = New();
        var x = b.Input("x", Dim.Sym("B"), 6);
        var y = b.Reshape(x, Dim.Sym("B"), 2, -1); // [B, 6] -> [B, 2, 3]
        b.Output("y", b.Reshape(y, new Dim(2, "B"), 3)); // [B, 2, 3] -> [2*B, 3]
        float[] xd = Seq(18);
        var r = Run(b, w, ("x", new HostTensor([3, 6], xd)));
        Check(r["y"], [6, 3], xd, 0);
    }

    [Fact]
    public void Transpose_permutes_axes()
    {
        var (b, w) = New();
        long[] shape = [2, 3, 4];
        float[] xd = Seq(24);
        b.Output("y", b.Transpose(b.Input("x", 2, 3, 4), 2, 0, 1)); // [2,3,4] -> [4,2,3]
        var r = Run(b, w, ("x", new HostTensor(shape, xd)));

        long[] outShape = [4, 2, 3];
        var want = new float[24];
        foreach (var o in Indices(outShape)) want[Flat(outShape, o)] = xd[Flat(shape, [o[1], o[2], o[0]])];
        Check(r["y"], outShape, want, 0);
    }

    [Fact]
    public void Concat_slice_and_pad_move_elements()
    {
        var (b, w) = New();
        float[] ad = Seq(6), cd = Seq(12, 1f, 5f);
        var a = b.Input("a", 2, 1, 3);
        var cat = b.Concat(1, a, W(b, w, "c", cd, 2, 2, 3));    // [2,1,3] ++ [2,2,3] on axis 1 -> [2,3,3]
        b.Output("cat", cat);
        b.Output("slice", b.Slice(cat, 1, 1, 10));              // end clamped: axis 1 [1, 3) -> [2,2,3]
        b.Output("pad", b.Pad(a, 0, 1, 0, 0, 0, 2));           // ONNX [begins; ends]: axis 1 +1 before, axis 2 +2 after -> [2,2,5]
        var r = Run(b, w, ("a", new HostTensor([2, 1, 3], ad)));

        long[] catShape = [2, 3, 3], sliceShape = [2, 2, 3], padShape = [2, 2, 5];
        var wantCat = new float[18];
        foreach (var i in Indices(catShape))
            wantCat[Flat(catShape, i)] = i[1] == 0 ? ad[Flat([2, 1, 3], [i[0], 0, i[2]])] : cd[Flat([2, 2, 3], [i[0], i[1] - 1, i[2]])];
        var wantSlice = new float[12];
        foreach (var i in Indices(sliceShape)) wantSlice[Flat(sliceShape, i)] = wantCat[Flat(catShape, [i[0], i[1] + 1, i[2]])];
        var wantPad = new float[20];
        foreach (var i in Indices(padShape))
            wantPad[Flat(padShape, i)] = i[1] == 1 && i[2] < 3 ? ad[Flat([2, 1, 3], [i[0], 0, i[2]])] : 0f;
        Check(r["cat"], catShape, wantCat, 0);
        Check(r["slice"], sliceShape, wantSlice, 0);
        Check(r["pad"], padShape, wantPad, 0);
    }

    [Fact]
    public void Expand_broadcasts_to_a_symbolic_target()
    {
        var (b, w) = New();
        float[] cls = Seq(3);
        var x = b.Input("x", Dim.Sym("B"), 4);
        var e = b.Expand(W(b, w, "cls", cls, 1, 1, 3), Dim.Sym("B"), 2, 3); // [1,1,3] -> [B,2,3]
        b.Output("y", e);
        b.Output("x2", b.Add(x, x));
        var r = Run(b, w, ("x", new HostTensor([2, 4], Seq(8))));
        Check(r["y"], [2, 2, 3], [.. cls, .. cls, .. cls, .. cls], 0);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(DataType.Float16)]
    [InlineData(DataType.BFloat16)]
    public void Every_op_kind_is_supported_and_runs(DataType? precision)
    {
        var (graph, weights) = AllOps();
        var kinds = graph.Nodes.Select(n => n.Op.GetType()).ToHashSet();
        kinds.Should().BeEquivalentTo(OpCatalog.All, "the coverage graph must hold every op kind of the catalog");
        TorchEvaluator.Unsupported(graph).Should().BeEmpty();

        // Every kernel also runs in f16 and bf16 (on the CPU too: a missing half kernel would kill the process).
        using var ev = new TorchEvaluator(graph, weights, new TorchEvalOptions(Precision: precision));
        var r = ev.Run(new Dictionary<string, HostTensor> { ["x"] = new([2, 2, 4, 4], Seq(64)) });
        r["y"].Shape.Should().Equal(graph.Outputs[0].Shape.Evaluate(new Dictionary<string, long> { ["B"] = 2 }));
        r["y"].Data.Should().OnlyContain(v => float.IsFinite(v));
        r["y"].Data.Should().Contain(v => v != 0);
    }
}
