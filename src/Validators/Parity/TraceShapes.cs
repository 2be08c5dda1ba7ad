using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>
/// Trace comparison rule: intermediate tensors are dumped by the original code and by our builders with different
/// conventions for leading unit axes (the reference returns [N, C] where a builder has [1, N, C]). A trace whose shape
/// differs from the golden's only by leading size-1 dimensions is compared after squeezing them; any other shape
/// difference fails, naming the trace and both shapes. Graph outputs are compared strictly (no squeezing).
/// </summary>
public static class TraceShapes
{
    /// <summary>Compares a trace under the squeeze rule above.</summary>
    public static ComparisonResult Compare(string trace, HostTensor actual, HostTensor expected, Tolerance tol, ErrorStat? stat = null)
    {
        var a = Squeeze(actual.Shape);
        var e = Squeeze(expected.Shape);
        if (!a.AsSpan().SequenceEqual(e))
            return ComparisonResult.Fail(trace,
                $"trace {trace}: shape {actual.ShapeText} differs from the golden's {expected.ShapeText} (beyond leading size-1 axes)");
        var rule = stat ?? ErrorStat.Elementwise;
        if (actual.Shape.AsSpan().SequenceEqual(expected.Shape)) return TensorComparator.Compare(trace, actual, expected, tol, rule);
        return TensorComparator.Compare(trace, Reshape(actual, a), Reshape(expected, e), tol, rule);
    }

    private static long[] Squeeze(long[] shape)
    {
        int lead = 0;
        while (lead < shape.Length - 1 && shape[lead] == 1) lead++;
        return shape[lead..];
    }

    private static HostTensor Reshape(HostTensor t, long[] shape) =>
        t.Floats is not null ? new HostTensor(shape, t.Floats, t.DType) : new HostTensor(shape, t.Longs!);
}
