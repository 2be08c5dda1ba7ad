using FluentAssertions;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs.Passes;

/// <summary>Each pass on a small graph: outputs equal before/after on TorchSharp and ONNX Runtime, and the op-count change.</summary>
public class PassTests
{
    private static readonly Dim B = Dim.Sym("B");

    [Fact]
    public void Fold_weight_transposes_stores_the_transposed_weight()
    {
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "fc1.weight", 12, 8);
        PassCheck.AddWeight(w, "fc1.bias", 12);
        PassCheck.AddWeight(w, "fc2.weight", 8, 12);
        PassCheck.AddWeight(w, "fc2.bias", 8);
        Graph Build()
        {
            var b = new GraphBuilder("mlp");
            var x = b.Input("x", B, 5, 8);
            b.Output("y", b.Mlp(x, 8, 12, Activation.Gelu));
            return b.Graph;
        }
        var r = PassCheck.Run(Build, w, new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(1, 1, 2, 5, 8) },
            ["fold-weight-transposes"]);
        r.Before("Transpose").Should().Be(2);
        r.AfterCount("Transpose").Should().Be(0);
        r.AfterCount("MatMul").Should().Be(2);
        r.After.Nodes.Should().NotContain(n => n.Op is Transpose && n.Inputs[0].IsConstant);
        r.After.Initializers.Should().Contain(i => i.Value.Name == "fc1.weight.T" && i.Value.Shape.Equals(Shape.Known(8, 12)));
        r.After.Initializers.Should().NotContain(i => i.Value.Name == "fc1.weight");
    }

    [Fact]
    public void Fold_constants_evaluates_export_time_tables_but_not_broadcasts()
    {
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "table", 6);
        PassCheck.AddWeight(w, "cls", 4);
        Graph Build()
        {
            var b = new GraphBuilder("tables");
            var x = b.Input("x", B, 2, 3);
            var table = b.Weight("table", 6);
            var t = b.Reshape(b.Mul(table, 2f), 2, 3);                                          // constant: folded
            var s = b.Slice(b.Concat(0, table, b.Constant("pad", [1f, 2f], 2)), 0, 1, 7);       // constant: folded
            var y = b.Add(b.Mul(x, t), b.Reshape(s, 2, 3));
            var cls = b.Expand(b.Reshape(b.Weight("cls", 4), 1, 1, 4), B, 1, 4);              // grows with B: kept
            b.Output("y", y);
            b.Output("cls", cls);
            return b.Graph;
        }
        var r = PassCheck.Run(Build, w, new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(2, 1, 3, 2, 3) }, ["fold-constants"]);
        r.Before("Mul").Should().Be(2);
        r.AfterCount("Mul").Should().Be(1);
        r.AfterCount("Concat").Should().Be(0);
        r.AfterCount("Slice").Should().Be(0);
        r.Before("Reshape").Should().Be(3);
        r.AfterCount("Reshape").Should().Be(0);
        r.AfterCount("Expand").Should().Be(1);
    }

    [Fact]
    public void Eliminate_identities_drops_no_op_nodes_and_chained_reshapes()
    {
        Graph Build()
        {
            var b = new GraphBuilder("ids");
            var x = b.Input("x", B, 4, 6);
            var y = b.Op(new Identity(), b.Sigmoid(x));
            y = b.Transpose(b.Reshape(y, B, 4, 6), 0, 1, 2);
            y = b.Reshape(b.Reshape(y, B, 24), B, 6, 4);
            y = b.Cast(b.Slice(y, 1, 0, 6), DataType.Float32);
            b.Output("y", b.Neg(y));
            return b.Graph;
        }
        var r = PassCheck.Run(Build, new MemoryWeights(), new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(3, 2, 2, 4, 6) },
            ["eliminate-identities", "eliminate-dead-code"]);
        r.Before("Identity").Should().Be(2, "one no-op, one naming the output");
        r.AfterCount("Identity").Should().Be(1, "the output's naming Identity stays");
        r.AfterCount("Transpose").Should().Be(0);
        r.AfterCount("Cast").Should().Be(0);
        r.AfterCount("Slice").Should().Be(0);
        r.Before("Reshape").Should().Be(3);
        r.AfterCount("Reshape").Should().Be(1);
        r.After.Nodes.Count.Should().Be(4);
    }

    [Fact]
    public void Eliminate_dead_code_removes_what_no_output_reads()
    {
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "unused", 3);
        Graph Build()
        {
            var b = new GraphBuilder("dead");
            var x = b.Input("x", B, 3);
            b.Sqrt(b.Add(x, b.Weight("unused", 3)));
            b.Output("y", b.Neg(x));
            return b.Graph;
        }
        var r = PassCheck.Run(Build, w, new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(4, 1, 2, 3) },
            ["eliminate-dead-code"], prune: false);
        r.Before("Sqrt").Should().Be(1);
        r.AfterCount("Sqrt").Should().Be(0);
        r.AfterCount("Add").Should().Be(0);
        r.After.Initializers.Should().BeEmpty();
    }

    [Fact]
    public void Merge_common_subexpressions_keeps_one_of_equal_nodes_and_constants()
    {
        Graph Build()
        {
            var b = new GraphBuilder("cse");
            var x = b.Input("x", B, 5);
            var a = b.Mul(b.Sigmoid(x), b.Constant("two", [2f], 1));
            var c = b.Mul(b.Sigmoid(x), b.Constant("two", [2f], 1));
            var t1 = b.Transpose(b.Reshape(x, B, 5, 1), 0, 2, 1);
            var t2 = b.Transpose(b.Reshape(x, B, 5, 1), 0, 2, 1);
            b.Output("y", b.Add(a, c));
            b.Output("z", b.Sub(t1, t2));
            return b.Graph;
        }
        var r = PassCheck.Run(Build, new MemoryWeights(), new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(5, 3, 2, 5) },
            ["merge-common-subexpressions"]);
        r.Before("Sigmoid").Should().Be(2);
        r.AfterCount("Sigmoid").Should().Be(1);
        r.AfterCount("Mul").Should().Be(1);
        r.AfterCount("Transpose").Should().Be(1);
        r.AfterCount("Reshape").Should().Be(1);
        r.After.Initializers.Should().ContainSingle();
    }

    public static TheoryData<bool, int> AttentionCases() => new() { { false, 17 }, { true, 17 }, { false, 23 }, { true, 23 } };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Fuse_attention_makes_one_attention_op_with_the_rel_pos_bias_as_mask(bool relPos, int opset)
    {
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "attn.qkv.weight", 48, 16);
        PassCheck.AddWeight(w, "attn.qkv.bias", 48);
        PassCheck.AddWeight(w, "attn.proj.weight", 16, 16);
        PassCheck.AddWeight(w, "attn.proj.bias", 16);
        PassCheck.AddWeight(w, "attn.rel_pos_h", 7, 8);
        PassCheck.AddWeight(w, "attn.rel_pos_w", 7, 8);
        Graph Build()
        {
            var b = new GraphBuilder("attn");
            var x = b.Input("x", B, 12, 16);                                   // 3 x 4 grid of tokens
            using var _ = b.Scope("attn");
            Func<Value, Value?>? bias = null;
            if (relPos)
            {
                var rh = RelPos.GatheredTable(b, b.Weight("rel_pos_h", 7, 8), 3, "rel_pos_h.gathered");   // 7 rows resized to 5
                var rw = RelPos.GatheredTable(b, b.Weight("rel_pos_w", 7, 8), 4, "rel_pos_w.gathered");
                bias = q => RelPos.Bias(b, q, rh, rw, 3, 4);
            }
            b.Output("y", b.SelfAttention(x, new AttentionOptions(16, 2), bias));
            return b.Graph;
        }
        var r = PassCheck.Run(Build, w, new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(6, 2, 2, 12, 16) },
            ["fuse-attention", "eliminate-dead-code"], opset: opset);
        r.Before("Softmax").Should().Be(1);
        r.AfterCount("Softmax").Should().Be(0);
        r.AfterCount("ScaledDotProductAttention").Should().Be(1);
        r.AfterCount("MatMul").Should().Be(r.Before("MatMul") - 2);
        r.AfterCount("Add").Should().Be(r.Before("Add") - (relPos ? 1 : 0));
        var fused = r.After.Nodes.Single(n => n.Op is ScaledDotProductAttention);
        fused.Inputs.Count.Should().Be(relPos ? 4 : 3);
        ((ScaledDotProductAttention)fused.Op).Scale.Should().BeApproximately(1 / Math.Sqrt(8), 1e-7);
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Chunk_attention_splits_queries_into_exact_blocks_and_slices_the_rel_pos_bias_at_its_source(bool relPos, int opset)
    {
        // A 5 x 4 grid (S = T = 20), 2 heads: a budget of 2 x 8 x 20 scores gives query blocks of 8, 8 and 4 (whole rows of 4).
        var w = new MemoryWeights();
        PassCheck.AddWeight(w, "attn.qkv.weight", 48, 16);
        PassCheck.AddWeight(w, "attn.qkv.bias", 48);
        PassCheck.AddWeight(w, "attn.proj.weight", 16, 16);
        PassCheck.AddWeight(w, "attn.proj.bias", 16);
        PassCheck.AddWeight(w, "attn.rel_pos_h", 9, 8);
        PassCheck.AddWeight(w, "attn.rel_pos_w", 7, 8);
        Graph Build()
        {
            var b = new GraphBuilder("attn");
            var x = b.Input("x", B, 20, 16);
            using var _ = b.Scope("attn");
            Func<Value, Value?>? bias = null;
            if (relPos)
            {
                var rh = RelPos.GatheredTable(b, b.Weight("rel_pos_h", 9, 8), 5, "rel_pos_h.gathered");
                var rw = RelPos.GatheredTable(b, b.Weight("rel_pos_w", 7, 8), 4, "rel_pos_w.gathered");
                bias = q => RelPos.Bias(b, q, rh, rw, 5, 4);
            }
            b.Output("y", b.SelfAttention(x, new AttentionOptions(16, 2), bias));
            return b.Graph;
        }
        var passes = new PassManager([new FuseAttention(), new ChunkAttention(2 * 8 * 20), new EliminateDeadCode()]);
        var inputs = new Dictionary<string, HostTensor> { ["x"] = PassCheck.Random(8, 2, 2, 20, 16) };
        var r = PassCheck.Run(Build, w, inputs, passes, opset: opset);
        var blocks = r.After.Nodes.Where(n => n.Op is ScaledDotProductAttention).ToArray();
        blocks.Select(n => n.Inputs[0].Shape[2].Value).Should().Equal([8L, 8, 4]);
        r.AfterCount("Concat").Should().Be(r.Before("Concat") + 1);
        r.AfterCount("Softmax").Should().Be(0);
        if (relPos)
        {
            // No [N, h, 20, 20] bias is left: each block adds only its rows of the rel-pos terms.
            r.After.Nodes.Should().NotContain(n =>
                n.Outputs[0].Shape.Rank == 4 && n.Outputs[0].Shape[2] == Dim.Of(20) && n.Outputs[0].Shape[3] == Dim.Of(20));
            blocks.Select(n => n.Inputs[3].Shape[2].Value).Should().Equal([8L, 8, 4]);
            r.AfterCount("Add").Should().Be(r.Before("Add") + 1, "three block sums replace the one rel-pos sum; the scores' Add is fused");
        }
        // Small attention (the budget not exceeded) is left alone.
        var untouched = Build();
        PassManager.For(["fuse-attention"]).Run(untouched);
        new ChunkAttention().Run(untouched).Should().BeFalse();
    }

    [Fact]
    public void Pass_manager_iterates_to_a_fixpoint_and_reports_each_pass()
    {
        var b = new GraphBuilder("fix");
        var x = b.Input("x", B, 4);
        b.Output("y", b.Add(b.Sigmoid(b.Op(new Identity(), x)), b.Sigmoid(x)));
        var report = PassManager.For(["merge-common-subexpressions", "eliminate-identities"]).Run(b.Graph);
        report.Converged.Should().BeTrue();
        report.Steps.Select(s => s.Round).Max()
            .Should().Be(3, "identity removal makes the two sigmoids equal: round 2 merges them, round 3 is quiet");
        b.Graph.Nodes.Count(n => n.Op is Sigmoid).Should().Be(1);
        report.Summary().Should().Contain(l => l.StartsWith("eliminate-identities", StringComparison.Ordinal));
        var unknown = () => PassManager.For(["no-such-pass"]);
        unknown.Should().Throw<GraphException>().WithMessage("*no-such-pass*fuse-attention*");
    }
}
