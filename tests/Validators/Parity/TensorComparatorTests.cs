using FluentAssertions;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>Parity never passes on NaN/Inf, empty outputs, shape mismatches or integer data, whatever the tolerance.</summary>
public sealed class TensorComparatorTests
{
    private static readonly Tolerance Loose = new(1e9, 1e9);

    private static HostTensor T(long[] shape, params float[] v) => new(shape, v);

    [Fact]
    public void Identical_tensors_pass_with_zero_error()
    {
        var r = TensorComparator.Compare("x", T([2], 1, -2), T([2], 1, -2), Tolerance.Fp32);
        r.Passed.Should().BeTrue();
        (r.MaxAbs, r.Cosine, r.Nmse, r.OutOfToleranceShare).Should().Be((0.0, 1.0, 0.0, 0.0));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Non_finite_actual_values_fail_even_with_huge_tolerance(float bad)
    {
        var r = TensorComparator.Compare("x", T([3], 1, bad, 3), T([3], 1, 2, 3), Loose);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Be("1 NaN/Inf values");
    }

    [Fact]
    public void Non_finite_reference_values_fail()
    {
        var r = TensorComparator.Compare("x", T([2], 1, 2), T([2], float.NaN, 2), Loose);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Contain("in the reference");
    }

    [Fact]
    public void All_nan_on_both_sides_fails()
    {
        var r = TensorComparator.Compare("x", T([2], float.NaN, float.NaN), T([2], float.NaN, float.NaN), Loose);
        r.Passed.Should().BeFalse();
        r.OutOfToleranceShare.Should().Be(1);
    }

    [Theory]
    [InlineData(new long[] { 0 })]
    [InlineData(new long[] { 2, 0, 3 })]
    public void Empty_outputs_fail(long[] shape)
    {
        var r = TensorComparator.Compare("x", T(shape), T(shape), Loose);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Be("empty tensor");
    }

    [Fact]
    public void Shape_mismatches_fail_even_with_the_same_element_count()
    {
        var r = TensorComparator.Compare("x", T([2, 3], 1, 2, 3, 4, 5, 6), T([3, 2], 1, 2, 3, 4, 5, 6), Loose);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Be("shape [2, 3] differs from expected [3, 2]");
        TensorComparator.Compare("x", T([6], 1, 2, 3, 4, 5, 6), T([1, 6], 1, 2, 3, 4, 5, 6), Loose).Passed.Should().BeFalse("rank differs");
    }

    [Fact]
    public void Integer_tensors_are_not_compared_as_passing()
    {
        var r = TensorComparator.Compare("x", new HostTensor([2], [1L, 2L]), new HostTensor([2], [1L, 2L]), Loose);
        r.Passed.Should().BeFalse();
        r.Failure.Should().Be("not a floating-point tensor");
    }

    [Fact]
    public void One_element_just_outside_the_tolerance_fails_and_is_located()
    {
        // |a - b| <= atol + rtol * |b|: 1e-4 + 1e-4 * 10 = 1.1e-3 allowed at b = 10.
        var pass = TensorComparator.Compare("x", T([3], 0, 10.001f, 0), T([3], 0, 10, 0), Tolerance.Fp32);
        pass.Passed.Should().BeTrue();
        var fail = TensorComparator.Compare("x", T([3], 0, 10.002f, 0), T([3], 0, 10, 0), Tolerance.Fp32);
        fail.Passed.Should().BeFalse();
        fail.Failure.Should().StartWith("1 of 3 elements out of tolerance");
        fail.WorstIndex.Should().Be(1);
    }
}

/// <summary>A report is only a pass when something was compared.</summary>
public sealed class ReportPassTests
{
    private static CaseReport Case(string? skipped = null, params OutputReport[] outputs) =>
        new("c", outputs, new Dictionary<string, string>(), new Dictionary<string, double>(), skipped);

    private static ValidationReport Report(params CaseReport[] cases)
        => new("s", "a", "cpu", "fp32", new Dictionary<string, string>(), cases);

    [Fact]
    public void A_case_with_no_comparisons_fails_and_all_skipped_fails()
    {
        Report(Case()).Passed.Should().BeFalse("a case that compared nothing proves nothing");
        Report(Case("skipped: other size")).Passed.Should().BeFalse("nothing ran");
        var ok = new OutputReport("c", "y", "exported vs golden",
            TensorComparator.Compare("y", new HostTensor([1], [1f]), new HostTensor([1], [1f]), Tolerance.Fp32));
        Report(Case(null, ok), Case("skipped: other size")).Passed.Should().BeTrue();
    }
}
