using FluentAssertions;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Torch;
using TorchSharp;
using Xunit;

namespace ModelForge.Tests.Validators.Torch;

/// <summary>Whole runs: symbolic batch, input validation, precision overrides, extra values, lifetime.</summary>
public partial class TorchEvaluatorTests
{
    [Fact]
    public void Symbolic_batch_runs_with_batch_1_and_3_on_one_evaluator()
    {
        var (b, w) = New();
        float[] wd = Seq(4 * 3, 0.5f), bias = Seq(3, 1f, 1f);
        var x = b.Input("x", Dim.Sym("B"), 4);
        var y = b.Add(b.MatMul(x, W(b, w, "w", wd, 4, 3)), W(b, w, "b", bias, 3)); // [B,4] x [4,3] + [3]
        b.Output("y", b.Reshape(y, Dim.Sym("B"), 3, 1));                          // [B,3] -> [B,3,1]
        using var ev = new TorchEvaluator(b.Graph, w);

        float[] Expect(float[] xs, int batch)
        {
            var want = new float[batch * 3];
            for (int n = 0; n < batch; n++)
                for (int j = 0; j < 3; j++)
                {
                    double s = bias[j];
                    for (int k = 0; k < 4; k++) s += xs[n * 4 + k] * wd[k * 3 + j];
                    want[n * 3 + j] = (float)s;
                }
            return want;
        }
        foreach (int batch in new[] { 1, 3, 1 })
        {
            float[] xd = Seq(batch * 4, 1f, batch);
            var r = ev.Run(new Dictionary<string, HostTensor> { ["x"] = new([batch, 4], xd) });
            Check(r["y"], [batch, 3, 1], Expect(xd, batch));
        }
    }

    public static TheoryData<string, long[], string> BadInputs => new()
    {
        { "x", [2, 5], "axis 1 is 5, not 4" },
        { "x", [2, 4, 1], "rank 3 instead of 2" },
        { "x", [0, 4], "not a positive multiple" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Input_shape_mismatch_is_an_ArgumentException_naming_the_input(string name, long[] shape, string why)
    {
        using var ev = SymbolicPair(out _);
        var inputs = new Dictionary<string, HostTensor>
        {
            [name] = new(shape, new float[shape.Aggregate(1L, (p, d) => p * d)]),
            ["m"] = new([2, 2], new float[4]),
        };
        var act = () => ev.Run(inputs);
        act.Should().Throw<ArgumentException>()
            .Where(e => e.Message.Contains("input 'x'") && e.Message.Contains("expected f32[B, 4]") && e.Message.Contains(why));
    }

    [Fact]
    public void Inconsistent_missing_unknown_and_integer_inputs_are_rejected_before_torch()
    {
        using var ev = SymbolicPair(out _);
        HostTensor X(long batch) => new([batch, 4], new float[batch * 4]);
        HostTensor M(long batch) => new([batch, 2], new float[batch * 2]);

        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = X(2), ["m"] = M(3) }))
            .Should().Throw<ArgumentException>().WithMessage("*input 'm'*B = 3*input 'x' gave B = 2*");
        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = X(2) }))
            .Should().Throw<ArgumentException>().WithMessage("*input 'm' is missing*");
        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = X(2), ["m"] = M(2), ["z"] = X(1) }))
            .Should().Throw<ArgumentException>().WithMessage("*unknown input 'z'*");
        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = new([2, 4], new long[8]), ["m"] = M(2) }))
            .Should().Throw<ArgumentException>().WithMessage("*input 'x'*floating-point data needed*");
        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = X(2), ["m"] = M(2) }, ["nope"]))
            .Should().Throw<ArgumentException>().WithMessage("*no value named 'nope'*");

        // The evaluator is still usable after the refusals (nothing reached libtorch).
        ev.Run(new Dictionary<string, HostTensor> { ["x"] = X(2), ["m"] = M(2) })["y"].Shape.Should().Equal(2, 4, 2);
    }

    [Theory]
    [InlineData(DataType.BFloat16)]
    [InlineData(DataType.Float16)]
    public void Half_precision_mlp_stays_close_to_the_f32_run(DataType precision)
    {
        var (graph, weights, input) = Mlp();
        using var f32 = new TorchEvaluator(graph, weights);
        using var half = new TorchEvaluator(graph, weights, new TorchEvalOptions(Precision: precision));
        var inputs = new Dictionary<string, HostTensor> { ["x"] = input };
        var reference = f32.Run(inputs)["y"];
        var low = half.Run(inputs)["y"];

        reference.DType.Should().Be(DataType.Float32);
        low.DType.Should().Be(precision);
        low.Shape.Should().Equal(reference.Shape);
        // Relative L2 error (a max-abs measure over a few hundred outputs is dominated by one unlucky rounding).
        double err = Math.Sqrt(reference.Data.Zip(low.Data, (a, b) => (double)(a - b) * (a - b)).Sum());
        double norm = Math.Sqrt(reference.Data.Sum(a => (double)a * a));
        double maxAbs = reference.Data.Zip(low.Data, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{precision.ShortName()}: |y - y_f32| / |y_f32| = {err / norm:E2}, max abs diff {maxAbs:E2}, max |y_f32| " +
            $"{reference.Data.Max(MathF.Abs):E2}");
        // 8 unit roundoffs of the type (bf16 2^-8 -> 3.1e-2, f16 2^-11 -> 3.9e-3): the MLP's sums cancel, so its
        // output error is a few roundoffs (seen: bf16 1.4e-2, f16 1.6e-3); a wrong island or cast is far larger.
        double tol = 8 * (precision == DataType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11));
        (err / norm).Should().BeLessThan(tol, $"{precision.ShortName()} vs f32");
        (err / norm).Should().BeGreaterThan(0, "the override must really compute in the lower precision");
    }

    [Fact]
    public void Bf16_weights_stored_as_bf16_are_copied_raw_and_match()
    {
        // A bf16 graph whose checkpoint stores bf16: the loader copies the bytes (no f32 staging).
        var b = new GraphBuilder("bf16", DataType.BFloat16);
        var w = new MemoryWeights();
        float[] wd = Seq(8 * 4, 0.25f);
        w.Add("w", wd, [8, 4], DataType.BFloat16);
        var x = b.Input("x", 2, 8);
        b.Output("y", b.MatMul(x, b.Weight("w", 8, 4)));
        float[] xd = Seq(16);
        using var ev = new TorchEvaluator(b.Graph, w);
        var r = ev.Run(new Dictionary<string, HostTensor> { ["x"] = new([2, 8], xd) })["y"];

        w.RawReads.Should().Be(1);
        r.DType.Should().Be(DataType.BFloat16);
        float Bf(float v) => DataTypes.BFloat16ToSingle(DataTypes.SingleToBFloat16(v));
        var want = new float[8];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++)
            {
                double s = 0;
                for (int k = 0; k < 8; k++) s += Bf(xd[i * 8 + k]) * Bf(wd[k * 4 + j]);
                want[i * 4 + j] = (float)s;
            }
        Check(r, [2, 4], want, 1e-2);
    }

    [Fact]
    public void Extra_values_are_returned_by_name()
    {
        var (graph, weights, input) = Mlp();
        using var ev = new TorchEvaluator(graph, weights);
        var ln = graph.Nodes.First(n => n.Op is ModelForge.Graphs.Ops.LayerNorm).Outputs[0].Name;
        var gelu = graph.Nodes.First(n => n.Op is ModelForge.Graphs.Ops.Gelu).Outputs[0].Name;
        var r = ev.Run(new Dictionary<string, HostTensor> { ["x"] = input }, [ln, gelu, "fc1.weight", "x"]);

        r.Keys.Should().BeEquivalentTo(["y", ln, gelu, "fc1.weight", "x"]);
        r[ln].Shape.Should().Equal(2, 8, 16);
        r[gelu].Shape.Should().Equal(2, 8, 32);
        Check(r["x"], input.Shape, input.Data, 0);
        Check(r["fc1.weight"], [16, 32], weights.ReadFloat32("fc1.weight"), 0);
        var rowMeans = Enumerable.Range(0, 16).Select(i => r[ln].Data.AsSpan(i * 16, 16).ToArray().Average());
        rowMeans.Should().OnlyContain(m => Math.Abs(m - LnBiasMean) < 1e-4, "LayerNorm output rows average to mean(bias) when scale is 1");
    }

    [Fact]
    public void Options_and_lifetime_fail_cleanly()
    {
        var (graph, weights, input) = Mlp();
        var badDevice = () => new TorchEvaluator(graph, weights, new TorchEvalOptions("gpu"));
        badDevice.Should().Throw<ArgumentException>().WithMessage("*device*gpu*");
        var badPrecision = () => new TorchEvaluator(graph, weights, new TorchEvalOptions(Precision: DataType.Int8));
        badPrecision.Should().Throw<ArgumentException>().WithMessage("*precision*i8*");
        if (!torch.cuda.is_available())
        {
            var cuda = () => new TorchEvaluator(graph, weights, new TorchEvalOptions("cuda"));
            cuda.Should().Throw<InvalidOperationException>().WithMessage("*CUDA is not available*");
        }

        var ev = new TorchEvaluator(graph, weights);
        ev.Dispose();
        ev.Invoking(e => e.Run(new Dictionary<string, HostTensor> { ["x"] = input })).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Runs_leave_no_tensor_alive_and_dispose_frees_the_weights()
    {
        // Statistics are per thread; an xunit fact runs on one thread from start to end.
        var stats = DisposeScopeManager.Statistics;
        var (graph, weights, input) = Mlp();
        long before = stats.ThreadTotalLiveCount;
        var ev = new TorchEvaluator(graph, weights);
        long loaded = stats.ThreadTotalLiveCount;
        (loaded - before).Should().Be(graph.Initializers.Count, "one device tensor per initializer");
        for (int i = 0; i < 3; i++)
            ev.Run(new Dictionary<string, HostTensor> { ["x"] = input }, [graph.Nodes[2].Outputs[0].Name]);
        stats.ThreadTotalLiveCount.Should().Be(loaded, "inputs, intermediates and host copies die inside Run");
        ev.Dispose();
        stats.ThreadTotalLiveCount.Should().Be(before);
    }

    // x [B, 4] and m [B, 2] -> y = x^T-ish outer product [B, 4, 2]: two inputs sharing the symbol B.
    private static TorchEvaluator SymbolicPair(out Graph graph)
    {
        var (b, w) = New();
        var x = b.Input("x", Dim.Sym("B"), 4);
        var m = b.Input("m", Dim.Sym("B"), 2);
        b.Output("y", b.MatMul(b.Reshape(x, Dim.Sym("B"), 4, 1), b.Reshape(m, Dim.Sym("B"), 1, 2)));
        graph = b.Graph;
        return new TorchEvaluator(graph, w);
    }

    private const float LnBiasMean = 0.05f;

    // LayerNorm(16) -> Linear(16, 32) -> Gelu -> Linear(32, 16), on x [2, 8, 16].
    private static (Graph, MemoryWeights, HostTensor) Mlp()
    {
        var (b, w) = New();
        var x = b.Input("x", 2, 8, 16);
        var ln = b.LayerNorm(x, W(b, w, "ln.weight", Enumerable.Repeat(1f, 16).ToArray(), 16),
            W(b, w, "ln.bias", Enumerable.Repeat(LnBiasMean, 16).ToArray(), 16), 1e-6);
        var h = b.Add(b.MatMul(ln, W(b, w, "fc1.weight", Seq(16 * 32, 0.25f), 16, 32)), W(b, w, "fc1.bias", Seq(32, 0.1f), 32));
        h = b.Gelu(h);
        var y = b.Add(b.MatMul(h, W(b, w, "fc2.weight", Seq(32 * 16, 0.1f, 0.2f), 32, 16)), W(b, w, "fc2.bias", Seq(16, 0.1f), 16));
        b.Output("y", y);
        return (b.Graph, w, new HostTensor([2, 8, 16], Seq(2 * 8 * 16, 2f, 0.5f)));
    }
}
