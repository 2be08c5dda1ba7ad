using FluentAssertions;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>Issue 16.4: traces differing only by leading size-1 axes are compared squeezed; anything else names both shapes.</summary>
public sealed class TraceShapesTests
{
    private static HostTensor T(long[] shape, float offset = 0) =>
        new(shape, Enumerable.Range(0, (int)shape.Aggregate(1L, (a, d) => a * d)).Select(i => i * 0.5f + offset).ToArray());

    [Fact]
    public void Leading_unit_axes_are_squeezed_on_either_side()
    {
        TraceShapes.Compare("blocks.0", T([1, 6, 4]), T([6, 4]), Tolerance.Fp32).Passed.Should().BeTrue();
        TraceShapes.Compare("blocks.0", T([6, 4]), T([1, 1, 6, 4]), Tolerance.Fp32).Passed.Should().BeTrue();
        // Values are still compared after squeezing.
        TraceShapes.Compare("blocks.0", T([1, 6, 4], 1), T([6, 4]), Tolerance.Fp32).Passed.Should().BeFalse();
    }

    [Fact]
    public void Other_differences_name_the_trace_and_both_shapes()
    {
        var r = TraceShapes.Compare("blocks.3", T([2, 6, 4]), T([6, 4]), Tolerance.Fp32);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Contain("blocks.3").And.Contain("[2, 6, 4]").And.Contain("[6, 4]");
        TraceShapes.Compare("x", T([6, 4, 1]), T([6, 4]), Tolerance.Fp32).Passed.Should().BeFalse("only leading axes are squeezed");
    }

    [Fact]
    public void Outputs_stay_strict()
    {
        TensorComparator.Compare("tokens", T([1, 6, 4]), T([6, 4]), Tolerance.Fp32).Passed.Should().BeFalse();
    }
}
