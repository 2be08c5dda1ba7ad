using FluentAssertions;
using ModelForge.Cli.Output;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Parity;
using Xunit;

namespace ModelForge.Tests.Validators.Parity;

/// <summary>The --check-error-stat rules and the "did you mean" distance.</summary>
public class ErrorStatTests
{
    [Fact]
    public void Parse_accepts_the_polygraphy_names_and_a_quantile()
    {
        ErrorStat.Parse("elementwise").Kind.Should().Be(ErrorStatKind.Elementwise);
        ErrorStat.Parse("MEDIAN").Kind.Should().Be(ErrorStatKind.Median);
        ErrorStat.Parse("quantile:0.9").Should().Be(new ErrorStat(ErrorStatKind.Quantile, 0.9));
        FluentActions.Invoking(() => ErrorStat.Parse("quantile")).Should().Throw<ArgumentException>().WithMessage("*quantile:Q*");
        FluentActions.Invoking(() => ErrorStat.Parse("p99")).Should().Throw<ArgumentException>().WithMessage("*p99*");
    }

    [Fact]
    public void Quantile_interpolates_linearly_like_numpy()
    {
        // numpy.quantile([1, 2, 3, 4], 0.5) == 2.5; 0.9 -> 3.7; 0 and 1 are min and max.
        TensorComparator.Quantile([4, 1, 3, 2], 0.5).Should().Be(2.5);
        TensorComparator.Quantile([4, 1, 3, 2], 0.9).Should().BeApproximately(3.7, 1e-12);
        TensorComparator.Quantile([4, 1, 3, 2], 0).Should().Be(1);
        TensorComparator.Quantile([4, 1, 3, 2], 1).Should().Be(4);
    }

    [Fact]
    public void Statistics_fail_only_when_abs_and_rel_both_exceed()
    {
        var expected = new HostTensor([4], [1f, 1f, 1f, 100f]);
        var actual = new HostTensor([4], [1f, 1f, 1f, 101f]);   // one abs error of 1, rel error 0.01
        var tol = new Tolerance(1e-3, 1e-3);
        TensorComparator.Compare("x", actual, expected, tol).Passed.Should().BeFalse();
        TensorComparator.Compare("x", actual, expected, tol, ErrorStat.Parse("median")).Passed.Should().BeTrue();
        TensorComparator.Compare("x", actual, expected, tol, ErrorStat.Parse("max")).Passed.Should().BeFalse();
        // max abs 1 > atol, but max rel 0.01 <= rtol 0.02: passes, as in Polygraphy.
        TensorComparator.Compare("x", actual, expected, new Tolerance(1e-3, 2e-2), ErrorStat.Parse("max")).Passed.Should().BeTrue();
        var nan = new HostTensor([4], [1f, float.NaN, 1f, 100f]);
        TensorComparator.Compare("x", nan, expected, tol, ErrorStat.Parse("median")).Passed.Should().BeFalse("NaN fails under every rule");
    }

    [Fact]
    public void Suggest_finds_typos_and_not_unrelated_words()
    {
        Suggest.Closest("--jsn", ["--json", "--opset"]).Should().Be("--json");
        Suggest.Closest("deepencodr", ["deepencoder", "vary"]).Should().Be("deepencoder");
        Suggest.Closest("gudnam", ["gundam", "tiny"]).Should().Be("gundam");
        Suggest.Closest("banana", ["gundam", "tiny"]).Should().BeNull();
    }
}
