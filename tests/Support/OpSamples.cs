using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Tests.Support;

/// <summary>A small graph exercising one op kind, its weights, and inputs for a given batch size.</summary>
public sealed record OpSample(string Name, Type Op, Graph Graph, MemoryWeights Weights,
    Func<int, IReadOnlyDictionary<string, HostTensor>> Inputs)
{
    public override string ToString() => Name;
}

/// <summary>
/// One or more samples per op kind (ggml test-backend-ops style): every kind in <see cref="OpCatalog.All"/> must appear,
/// so a new op without a sample fails the coverage test. Inputs are seeded uniform [-1, 1] (positive for Sqrt);
/// every graph has a symbolic batch axis B.
/// </summary>
public static class OpSamples
{
    private static readonly Dim B = Dim.Sym("B");

    public static IReadOnlyList<OpSample> All { get; } = Build();

    private static IReadOnlyList<OpSample> Build()
    {
        var list = new List<OpSample>();
        void Add<T>(string name, Func<GraphBuilder, MemoryWeights, Value> body,
            params (string Name, Dim[] Shape, bool Positive)[] inputs) where T : Op
        {
            var b = new GraphBuilder(name);
            var w = new MemoryWeights();
            var values = inputs.Select(i => b.Input(i.Name, i.Shape)).ToArray();
            b.Output("y", body(b, w));
            list.Add(new OpSample(name, typeof(T), b.Graph, w, batch => Random(b.Graph, inputs, batch, name)));
        }
        Value X(GraphBuilder b, string n = "x") => b.Graph.Find(n)!;
        Value Weight(GraphBuilder b, MemoryWeights w, string key, params long[] shape)
        {
            var rng = new Random(key.GetHashCode(StringComparison.Ordinal) & 0xffff);
            w.Add(key, Enumerable.Range(0, (int)shape.Aggregate(1L, (a, d) => a * d)).Select(_ => (float)(rng.NextDouble() - 0.5))
                .ToArray(), shape);
            return b.Weight(key, shape);
        }
        (string, Dim[], bool) In(string name, bool positive = false, params Dim[] shape) => (name, shape, positive);

        Add<Add>("add_broadcast", (b, w) => b.Add(X(b), Weight(b, w, "bias", 5)), In("x", false, B, 3, 5));
        Add<Sub>("sub_two_inputs", (b, w) => b.Sub(X(b), X(b, "z")), In("x", false, B, 4), In("z", false, B, 4));
        Add<Mul>("mul_scalar", (b, w) => b.Mul(X(b), 1.702f), In("x", false, B, 6));
        Add<Div>("div_broadcast", (b, w) => b.Div(X(b), b.Add(b.Mul(X(b, "z"), X(b, "z")), b.Scalar(0.5f))), In("x", false, B, 2, 3),
            In("z", false, B, 1, 3));
        Add<Neg>("neg", (b, w) => b.Neg(X(b)), In("x", false, B, 7));
        Add<Sqrt>("sqrt", (b, w) => b.Sqrt(X(b)), In("x", true, B, 7));
        Add<Sigmoid>("sigmoid", (b, w) => b.Sigmoid(X(b)), In("x", false, B, 7));
        Add<Gelu>("gelu_exact", (b, w) => b.Gelu(b.Mul(X(b), 3f)), In("x", false, B, 9));
        Add<Gelu>("gelu_tanh", (b, w) => b.Gelu(b.Mul(X(b), 3f), tanh: true), In("x", false, B, 9));
        Add<Identity>("identity", (b, w) => b.Op(new Identity(), X(b)), In("x", false, B, 3));
        Add<Cast>("cast_f16_roundtrip", (b, w) => b.Cast(b.Cast(X(b), DataType.Float16), DataType.Float32), In("x", false, B, 8));
        Add<MatMul>("matmul_weight", (b, w) => b.MatMul(X(b), Weight(b, w, "w", 6, 4)), In("x", false, B, 3, 6));
        Add<MatMul>("matmul_batched", (b, w) => b.MatMul(X(b), b.Transpose(X(b, "z"), 0, 1, 3, 2)), In("x", false, B, 2, 3, 4),
            In("z", false, B, 2, 5, 4));
        Add<Conv2d>("conv_stride_pad_bias",
            (b, w) => b.Conv2d(X(b), Weight(b, w, "cw", 4, 3, 3, 3), Weight(b, w, "cb", 4), stride: 2, pad: 1), In("x", false, B, 3, 9, 9));
        Add<Conv2d>("conv_groups", (b, w) => b.Conv2d(X(b), Weight(b, w, "gw", 4, 2, 1, 1), null, groups: 2), In("x", false, B, 4, 5, 5));
        Add<LayerNorm>("layernorm", (b, w) => b.LayerNorm(b.Mul(X(b), 4f), Weight(b, w, "g", 8), Weight(b, w, "beta", 8), 1e-6),
            In("x", false, B, 3, 8));
        Add<RmsNorm>("rmsnorm", (b, w) => b.RmsNorm(b.Mul(X(b), 4f), Weight(b, w, "rg", 8), 1e-6), In("x", false, B, 3, 8));
        Add<Softmax>("softmax_last", (b, w) => b.Softmax(b.Mul(X(b), 5f), -1), In("x", false, B, 2, 6));
        Add<Softmax>("softmax_axis1", (b, w) => b.Softmax(X(b), 1), In("x", false, B, 4, 3));
        Add<Reshape>("reshape_infer", (b, w) => b.Reshape(X(b), -1, 6), In("x", false, B, 4, 6));
        Add<Reshape>("reshape_symbolic", (b, w) => b.Reshape(X(b), B * 4, 3, 2), In("x", false, B, 4, 6));
        Add<Transpose>("transpose", (b, w) => b.Transpose(X(b), 0, 2, 1), In("x", false, B, 3, 5));
        Add<Concat>("concat", (b, w) => b.Concat(1, X(b), X(b, "z"), X(b)), In("x", false, B, 2, 3), In("z", false, B, 1, 3));
        Add<Slice>("slice_clamped", (b, w) => b.Slice(X(b), 2, 1, 100), In("x", false, B, 3, 5));
        Add<Pad>("pad", (b, w) => b.Pad(X(b), 0, 1, 0, 0, 2, 3), In("x", false, B, 2, 3));
        Add<Expand>("expand_symbolic", (b, w) => b.Add(b.Expand(b.Reshape(Weight(b, w, "cls", 5), 1, 1, 5), B, 1, 5), X(b)),
            In("x", false, B, 1, 5));
        Add<ScaledDotProductAttention>("attention_plain", (b, w) => b.Attention(X(b, "q"), X(b, "k"), X(b, "v"), 0.5),
            In("q", false, B, 2, 5, 4), In("k", false, B, 2, 5, 4), In("v", false, B, 2, 5, 3));
        Add<ScaledDotProductAttention>("attention_bias", (b, w) => b.Attention(X(b, "q"), X(b, "k"), X(b, "v"), 0.35, b.Mul(X(b, "m"), 4f)),
            In("q", false, B, 2, 5, 4), In("k", false, B, 2, 6, 4), In("v", false, B, 2, 6, 3), In("m", false, B, 2, 5, 6));
        Add<ScaledDotProductAttention>("attention_head_bias",
            (b, w) => b.Attention(X(b, "q"), X(b, "k"), X(b, "v"), 0.5, Weight(b, w, "hb", 2, 5, 5)),
            In("q", false, B, 2, 5, 4), In("k", false, B, 2, 5, 4), In("v", false, B, 2, 5, 4));
        // Gather by a constant permutation (axis 1) and by a host-given i64 input (axis 0 of a weight: an embedding lookup).
        Add<Gather>("gather_constant", (b, w) => b.Gather(X(b), b.Graph.AddInitializer("perm", DataType.Int64, Shape.Known(2, 3),
            LiteralData.OfLongs(4, 0, 2, 2, 1, 3)), 1), In("x", false, B, 5, 3));
        {
            var b = new GraphBuilder("gather_input");
            var w = new MemoryWeights();
            var idx = b.IndexInput("idx", B, 2);
            b.Output("y", b.Gather(Weight(b, w, "table", 6, 4), idx, 0));
            list.Add(new OpSample("gather_input", typeof(Gather), b.Graph, w, batch => new Dictionary<string, HostTensor>
            {
                ["idx"] = new HostTensor([batch, 2], Enumerable.Range(0, batch * 2).Select(i => (long)((i * 5 + 1) % 6)).ToArray()),
            }));
        }
        return list;
    }

    private static IReadOnlyDictionary<string, HostTensor> Random(Graph g, (string Name, Dim[] Shape, bool Positive)[] inputs, int batch,
        string seedName)
    {
        var rng = new Random(seedName.Length * 7919 + batch);
        var bind = new Dictionary<string, long> { ["B"] = batch };
        return inputs.ToDictionary(i => i.Name, i =>
        {
            var shape = new Shape(i.Shape).Evaluate(bind);
            var data = new float[shape.Aggregate(1L, (a, d) => a * d)];
            for (int k = 0; k < data.Length; k++) data[k] = i.Positive ? (float)(rng.NextDouble() + 0.01)
                : (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(shape, data);
        });
    }
}
