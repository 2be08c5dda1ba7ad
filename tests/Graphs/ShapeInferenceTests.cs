using FluentAssertions;
using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using Xunit;

namespace ModelForge.Tests.Graphs;

public class ShapeInferenceTests
{
    private static readonly Dim B = Dim.Sym("B");

    [Fact]
    public void Dims_are_monomials_and_divide_exactly()
    {
        (B * 4).ToString().Should().Be("4*B");
        (B * 12).TryDivide(3).Should().Be(B * 4);
        (B * 12).TryDivide(B * 4).Should().Be(Dim.Of(3));
        (B * 3).TryDivide(2).Should().BeNull();
        var act = () => B * B;
        act.Should().Throw<GraphException>();
    }

    [Fact]
    public void Reshape_infers_symbolic_dimension()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", B, 4, 6, 8);
        b.Reshape(x, -1, 8).Shape.Should().Be(new Shape(B * 24, 8));
        b.Reshape(x, B, 2, 12, 8).Shape.Should().Be(new Shape(B, 2, 12, 8));
        var bad = () => b.Reshape(x, B, 5, 8);
        bad.Should().Throw<GraphException>().WithMessage("*cannot reshape*");
    }

    [Fact]
    public void MatMul_broadcasts_batch_and_checks_inner_dims()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", B, 3, 5, 7);
        var r = b.Constant("r", new float[3 * 7 * 2], 3, 7, 2);
        b.MatMul(x, r).Shape.Should().Be(new Shape(B, 3, 5, 2));
        var w = b.Constant("w", new float[6], 6, 1);
        var bad = () => b.MatMul(x, w);
        bad.Should().Throw<GraphException>().WithMessage("*inner dimensions*");
    }

    [Fact]
    public void Conv_pad_slice_concat_expand_shapes()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", B, 3, 20, 20);
        var w = b.Constant("w", new float[8 * 3 * 3 * 3], 8, 3, 3, 3);
        var y = b.Conv2d(x, w, null, stride: 2, pad: 1);
        y.Shape.Should().Be(new Shape(B, 8, 10, 10));
        b.Pad(y, 0, 0, 0, 0, 0, 0, 2, 2).Shape.Should().Be(new Shape(B, 8, 12, 12));
        b.Slice(y, 2, 0, 7).Shape.Should().Be(new Shape(B, 8, 7, 10));
        b.Concat(1, y, y).Shape.Should().Be(new Shape(B, 16, 10, 10));
        var c = b.Constant("c", new float[8], 1, 8, 1, 1);
        b.Expand(c, B, 8, 3, 3).Shape.Should().Be(new Shape(B, 8, 3, 3));
    }

    [Fact]
    public void Wrong_input_shapes_name_the_node()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", B, 4);
        var y = b.Input("y", B, 5);
        using (b.Scope("blocks.0"))
        {
            var act = () => b.Add(x, y);
            act.Should().Throw<GraphException>().WithMessage("blocks.0.add*do not broadcast*");
        }
    }

    [Fact]
    public void Prune_drops_unused_nodes_and_initializers_but_keeps_declared_weights()
    {
        var b = new GraphBuilder("t");
        var x = b.Input("x", B, 4);
        var used = b.Weight("used", 4);
        var source = b.Weight("source", 4);
        var derived = b.Derived("derived", [4], "copy", [source], s => s[0]);
        _ = b.Mul(x, x);
        b.Output("y", b.Add(b.Add(x, used), derived));
        b.Graph.PruneUnused().Should().Be(2);
        b.Graph.Initializers.Select(i => i.Value.Name).Should().BeEquivalentTo("used", "derived");
        b.Graph.DeclaredWeights.Keys.Should().BeEquivalentTo("used", "source");
        b.Graph.ParameterCount.Should().Be(8);
    }

    [Fact]
    public void Catalog_lists_every_concrete_op()
    {
        OpCatalog.All.Should().Contain([typeof(MatMul), typeof(Conv2d), typeof(LayerNorm), typeof(Reshape), typeof(Expand)]);
        OpCatalog.All.Should().OnlyContain(t => t.IsSealed);
    }
}
