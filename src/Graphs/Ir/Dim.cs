using System.Globalization;

namespace ModelForge.Graphs.Ir;

/// <summary>
/// One dimension of a shape: a monomial <c>Factor * Symbol</c>, or a plain number when <see cref="Symbol"/> is null.
/// One symbol per dimension is all the four encoder families need: the batch / tile axis (B, T) or the packed
/// patch axis (N); window partition multiplies it by a known count (B*nW), which stays a monomial.
/// </summary>
public readonly record struct Dim(long Factor, string? Symbol)
{
    public static Dim Of(long value) => new(value, null);

    public static Dim Sym(string name) => new(1, name);

    public static implicit operator Dim(long value) => Of(value);

    public static implicit operator Dim(int value) => Of(value);

    public bool IsKnown => Symbol is null || Factor == 0;

    /// <summary>The numeric value; throws for a symbolic dimension.</summary>
    public long Value => IsKnown ? Factor : throw new GraphException($"dimension {this} is symbolic, not a number");

    public static Dim operator *(Dim a, Dim b)
    {
        if (a.Symbol is not null && b.Symbol is not null)
            throw new GraphException($"cannot multiply two symbolic dimensions ({a} x {b})");
        // A hostile config (say window_size 65536) can ask for sizes no tensor can have: a user error, not a crash.
        long f;
        try
        {
            f = checked(a.Factor * b.Factor);
        }
        catch (OverflowException)
        {
            throw new GraphException($"dimension {a} x {b} overflows a 64-bit integer (a size in the config is far too large)");
        }
        return f == 0 ? Of(0) : new Dim(f, a.Symbol ?? b.Symbol);
    }

    /// <summary>Exact division, or null when the quotient is not a monomial with an integer factor.</summary>
    public Dim? TryDivide(Dim d)
    {
        if (d.Factor == 0) return null;
        if (d.Symbol is not null && d.Symbol != Symbol) return null;
        if (Factor % d.Factor != 0) return null;
        return new Dim(Factor / d.Factor, d.Symbol is null ? Symbol : null);
    }

    /// <summary>Numeric value under the given symbol bindings (e.g. B = 2).</summary>
    public long Evaluate(IReadOnlyDictionary<string, long> bindings)
    {
        if (IsKnown) return Factor;
        if (!bindings.TryGetValue(Symbol!, out long v))
            throw new GraphException($"no value bound for dimension symbol '{Symbol}'");
        return checked(Factor * v);
    }

    public override string ToString() =>
        Symbol is null ? Factor.ToString(CultureInfo.InvariantCulture)
        : Factor == 1 ? Symbol : $"{Factor.ToString(CultureInfo.InvariantCulture)}*{Symbol}";
}

/// <summary>An inconsistency in a graph: wrong ranks, shapes, dtypes or attributes, found while building it.</summary>
public sealed class GraphException(string message) : Exception(message);
