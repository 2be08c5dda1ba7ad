using FluentAssertions;
using ModelForge.Graphs.Analysis;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs.Analysis;

/// <summary>The analytic FLOP and activation models on graphs small enough to count by hand.</summary>
public sealed class CostModelTests
{
    private static readonly Dictionary<string, long> B2 = new() { ["B"] = 2 };

    [Fact]
    public void Flops_of_a_small_graph_equal_a_count_by_hand()
    {
        var b = new GraphBuilder("hand");
        var x = b.Input("x", Dim.Sym("B"), 4, 8);                      // [B, 4, 8]
        var w = b.Weight("w", 8, 16);
        var bias = b.Weight("b", 16);
        var y = b.Add(b.MatMul(x, w), bias);                             // [B, 4, 16]
        var g = b.Gelu(y);
        var n = b.LayerNorm(g, b.Weight("ln.w", 16), b.Weight("ln.b", 16), 1e-5);
        var s = b.Softmax(b.Reshape(n, Dim.Sym("B"), 64), -1);          // [B, 64]
        var img = b.Input("img", Dim.Sym("B"), 3, 8, 8);
        var conv = b.Conv2d(img, b.Weight("cw", 5, 3, 3, 3), b.Weight("cb", 5), stride: 1, pad: 1); // [B, 5, 8, 8]
        b.Output("s", s);
        b.Output("conv", b.Transpose(conv, 0, 2, 3, 1));
        var report = GraphCost.Analyze(b.Graph, B2);

        // By hand, B = 2:
        double matmul = 2.0 * (2 * 4) * 8 * 16;      // 2 FLOPs per multiply-add, M = B*4 rows, K = 8, N = 16: 2048
        double add = 2 * 4 * 16;                     // one per output element: 128
        double gelu = 8 * 128;                       // 8 per element: 1024
        double layerNorm = 7 * 128;                  // 896
        double softmax = 5 * 128;                    // 640
        double conv2d = 2.0 * (2 * 5 * 8 * 8) * (3 * 3 * 3) + 2 * 5 * 8 * 8; // 640 outputs x 27 MACs x 2 + bias: 35200
        report.Flops.Should().Be(matmul + add + gelu + layerNorm + softmax + conv2d);
        report.Flops.Should().Be(39936);
        report.ByKind["Reshape"].Should().Be(0);
        report.ByKind["Transpose"].Should().Be(0);
    }

    [Fact]
    public void Every_op_kind_has_a_cost()
    {
        // OpSamples holds at least one graph per op kind (the op-coverage test checks that), so a new kind without a case
        // in OpCost's switch fails here.
        var covered = new HashSet<Type>();
        foreach (var sample in OpSamples.All)
        {
            var bindings = sample.Graph.Symbols.ToDictionary(s => s, _ => 2L);
            foreach (var node in sample.Graph.Nodes)
            {
                var cost = OpCost.Of(node, bindings);
                cost.Flops.Should().BeGreaterThanOrEqualTo(0, node.ToString());
                covered.Add(node.Op.GetType());
            }
            ActivationModel.Simulate(sample.Graph, bindings, AttentionMemory.Materialized).PeakBytes.Should().BeGreaterThan(0);
        }
        covered.Should().BeEquivalentTo(OpCatalog.All);
    }

    [Fact]
    public void Activation_peak_of_a_chain_equals_a_count_by_hand()
    {
        var b = new GraphBuilder("chain");
        var x = b.Input("x", Dim.Sym("B"), 256);                      // caller-owned: 2*256*4 = 2 KiB, live throughout
        var m = b.Mul(x, 2f);                                         // fresh (x is a graph input, never overwritten): 2 KiB
        var t = b.Transpose(m, 1, 0);                                 // fresh 2 KiB; m dies here
        var r = b.Reshape(t, Dim.Sym("B") * 256);                     // alias of t: no memory
        var n = b.Neg(r);                                             // in place into t (dies here, same size)
        var c = b.Concat(0, n, n);                                    // fresh 4 KiB; n dies here
        b.Output("y", c);
        var a = ActivationModel.Simulate(b.Graph, B2, AttentionMemory.Materialized);
        // Steps: mul x+m = 4 KiB; transpose x+m+t = 6 KiB; neg x+t = 4 KiB; concat x+t+c = 8 KiB.
        a.PeakBytes.Should().Be(8192);
        a.PeakNode.Should().Be("concat");
        a.InputBytes.Should().Be(2048);
    }

    [Fact]
    public void Memory_efficient_attention_drops_the_score_chain_and_a_dense_mask_input()
    {
        const int s = 64, d = 8, h = 2;
        var b = new GraphBuilder("attn");
        var q = b.Input("q", Dim.Sym("B"), h, s, d);
        var k = b.Input("k", Dim.Sym("B"), h, s, d);
        var v = b.Input("v", Dim.Sym("B"), h, s, d);
        var mask = b.Input("mask", s, s);
        var scores = b.Add(b.Mul(b.MatMul(q, b.Transpose(k, 0, 1, 3, 2)), 0.35f), mask); // [B, h, S, S]
        b.Output("ctx", b.MatMul(b.Softmax(scores, -1), v));
        var bindings = new Dictionary<string, long> { ["B"] = 1 };
        var full = ActivationModel.Simulate(b.Graph, bindings, AttentionMemory.Materialized);
        var eff = ActivationModel.Simulate(b.Graph, bindings, AttentionMemory.MemoryEfficient);
        long qkv = 3L * h * s * d * 4, sq = (long)h * s * s * 4, maskBytes = (long)s * s * 4, kT = (long)h * d * s * 4,
            ctx = (long)h * s * d * 4;
        // Materialized: inputs + mask throughout; the largest step holds two [h, S, S] tensors (the in-place Mul and Add keep
        // one buffer; the softmax reads it and writes a second one).
        full.PeakBytes.Should().Be(qkv + maskBytes + 2 * sq);
        eff.ScoreChainsElided.Should().Be(1);
        // Memory-efficient: no [h, S, S] tensor and no dense mask; the largest step is the transpose of k (k, kᵀ live) or
        // the output: q, k, v + max(kᵀ, ctx).
        eff.PeakBytes.Should().Be(qkv + Math.Max(kT, ctx));
    }

    [Fact]
    public void Fused_attention_costs_what_its_unfused_chain_costs()
    {
        const int s = 64, d = 8, h = 2;
        Graph Build()
        {
            var b = new GraphBuilder("attn");
            var q = b.Input("q", Dim.Sym("B"), h, s, d);
            var k = b.Input("k", Dim.Sym("B"), h, s, d);
            var v = b.Input("v", Dim.Sym("B"), h, s, d);
            var mask = b.Input("mask", s, s);
            var scores = b.Add(b.Mul(b.MatMul(q, b.Transpose(k, 0, 1, 3, 2)), 0.35f), mask);
            b.Output("ctx", b.MatMul(b.Softmax(scores, -1), v));
            return b.Graph;
        }
        var plain = Build();
        var fused = Build();
        new ModelForge.Graphs.Passes.FuseAttention().Run(fused).Should().BeTrue();
        fused.Nodes.Should().Contain(n => n.Op is ScaledDotProductAttention);
        var bindings = new Dictionary<string, long> { ["B"] = 3 };
        GraphCost.Analyze(fused, bindings).Flops.Should().Be(GraphCost.Analyze(plain, bindings).Flops);
        // By hand (B = 3): q, k, v and ctx are [3, 2, 64, 8] f32 = 12 KiB each, the mask 16 KiB, a score tensor [3, 2, 64, 64] 96 KiB.
        long one = 3L * h * s * d * 4, sq = 3L * h * s * s * 4, maskBytes = (long)s * s * 4;
        // Scores kept: the fused node's workspace is the two score tensors the unfused chain holds at once, beside its output.
        ActivationModel.Simulate(fused, bindings, AttentionMemory.Materialized).PeakBytes.Should().Be(3 * one + maskBytes + 2 * sq + one);
        ActivationModel.Simulate(plain, bindings, AttentionMemory.Materialized).PeakBytes.Should().Be(3 * one + maskBytes + 2 * sq);
        // Memory-efficient: no scores, no dense mask input: q, k, v and the output.
        var eff = ActivationModel.Simulate(fused, bindings, AttentionMemory.MemoryEfficient);
        eff.ScoreChainsElided.Should().Be(1);
        eff.PeakBytes.Should().Be(4 * one);
    }
}
