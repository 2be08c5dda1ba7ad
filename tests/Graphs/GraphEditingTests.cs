using FluentAssertions;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>The IR mutation API keeps SSA, topological order and inferred types, and refuses edits that would break them.</summary>
public class GraphEditingTests
{
    private static (Graph G, Value X, Value S, Value N) Small()
    {
        var b = new GraphBuilder("edit");
        var x = b.Input("x", Dim.Sym("B"), 4);
        var s = b.Sigmoid(x);
        var n = b.Neg(s);
        b.Output("y", b.Add(n, s));
        return (b.Graph, x, s, n);
    }

    [Fact]
    public void Replace_insert_and_remove_keep_the_graph_valid()
    {
        var (g, x, s, n) = Small();
        var sqrt = g.InsertNodeBefore(n.Producer!, "sqrt", new Sqrt(), [x])[0];
        g.IndexOf(sqrt.Producer!).Should().Be(g.IndexOf(n.Producer!) - 1);
        g.ReplaceAllUses(s, sqrt).Should().Be(2);
        g.Uses(s).Should().BeEmpty();
        g.RemoveNode(s.Producer!);
        g.Find(s.Name).Should().BeNull();
        g.Verify();
        g.Nodes.Select(v => v.Op.Kind).Should().Equal("Sqrt", "Neg", "Add", "Identity");
    }

    [Fact]
    public void Edits_that_break_invariants_are_refused()
    {
        var (g, x, s, n) = Small();
        var other = new GraphBuilder("other").Input("x", Dim.Sym("B"), 4);
        g.Invoking(h => h.ReplaceAllUses(s, other)).Should().Throw<GraphException>().WithMessage("*not a value of graph edit*");
        var wide = g.InsertNode(0, "wide", new Concat(0), [x, x])[0];
        g.Invoking(h => h.ReplaceAllUses(s, wide)).Should().Throw<GraphException>().WithMessage("*types differ*");
        g.Invoking(h => h.SetInput(n.Producer!, 0, wide)).Should().Throw<GraphException>().WithMessage("*infer*");
        g.Invoking(h => h.RemoveNode(s.Producer!)).Should().Throw<GraphException>().WithMessage("*reads*");
        g.Invoking(h => h.RemoveNode(g.Outputs[0].Producer!)).Should().Throw<GraphException>().WithMessage("*graph output*");
        g.Invoking(h => h.InsertNode(0, "early", new Neg(), [n])).Should().Throw<GraphException>().WithMessage("*before it is defined*");
        var late = g.InsertNode(g.Nodes.Count, "late", new Sigmoid(), [x])[0];
        g.Invoking(h => h.ReplaceAllUses(s, late)).Should().Throw<GraphException>().WithMessage("*defined after*");
        g.Invoking(h => h.ReplaceAllUses(g.Outputs[0], n)).Should().Throw<GraphException>().WithMessage("*graph output*");
        g.Verify();
    }

    [Fact]
    public void Initializer_data_can_be_replaced_and_unused_initializers_removed()
    {
        var b = new GraphBuilder("init");
        var x = b.Input("x", 3);
        var c = b.Constant("c", [1f, 2f, 3f], 3);
        b.Output("y", b.Add(x, c));
        b.Graph.ReplaceInitializerData(c, LiteralData.Of(4f, 5f, 6f));
        c.Initializer!.Data.Should().Be(c.Initializer.Data as LiteralData);
        ((LiteralData)c.Initializer.Data).Floats.Should().Equal(4f, 5f, 6f);
        b.Graph.RemoveInitializer(c).Should().BeFalse("it is still read");
        var unused = b.Constant("u", [0f], 1);
        b.Graph.RemoveInitializer(unused).Should().BeTrue();
        b.Graph.Find("u").Should().BeNull();
    }
}
