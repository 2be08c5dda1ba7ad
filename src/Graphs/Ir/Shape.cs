namespace ModelForge.Graphs.Ir;

/// <summary>An immutable tensor shape of <see cref="Dim"/>s, compared by value.</summary>
public sealed class Shape : IEquatable<Shape>
{
    private readonly Dim[] _dims;

    public Shape(params Dim[] dims) => _dims = (Dim[])dims.Clone();

    public Shape(IEnumerable<Dim> dims) => _dims = dims.ToArray();

    public static Shape Known(params long[] dims) => new(dims.Select(Dim.Of));

    public static Shape Scalar { get; } = new();

    public int Rank => _dims.Length;

    public Dim this[int axis] => _dims[axis];

    public Dim this[Index axis] => _dims[axis];

    public IReadOnlyList<Dim> Dims => _dims;

    public bool IsFullyKnown => _dims.All(d => d.IsKnown);

    /// <summary>Product of all dimensions (a monomial; throws if two different symbols would multiply).</summary>
    public Dim ElementCount => _dims.Aggregate(Dim.Of(1), (a, d) => a * d);

    /// <summary>Axis normalised to [0, rank) (negative counts from the end), or a GraphException.</summary>
    public int Axis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new GraphException($"axis {axis} out of range for shape {this}");
        return a;
    }

    public long[] ToLongs() => _dims.Select(d => d.Value).ToArray();

    public long[] Evaluate(IReadOnlyDictionary<string, long> bindings) => _dims.Select(d => d.Evaluate(bindings)).ToArray();

    public Shape With(int axis, Dim value)
    {
        var d = (Dim[])_dims.Clone();
        d[Axis(axis)] = value;
        return new Shape(d);
    }

    public IEnumerable<string> Symbols => _dims.Where(d => !d.IsKnown).Select(d => d.Symbol!).Distinct();

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);

    public override bool Equals(object? obj) => Equals(obj as Shape);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(", ", _dims) + "]";

    /// <summary>Numpy broadcasting of two shapes, or a GraphException naming both.</summary>
    public static Shape Broadcast(Shape a, Shape b)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var dims = new Dim[rank];
        for (int i = 0; i < rank; i++)
        {
            int ia = i - (rank - a.Rank), ib = i - (rank - b.Rank);
            Dim da = ia >= 0 ? a[ia] : Dim.Of(1), db = ib >= 0 ? b[ib] : Dim.Of(1);
            if (da == db || db == Dim.Of(1)) dims[i] = da;
            else if (da == Dim.Of(1)) dims[i] = db;
            else throw new GraphException($"shapes {a} and {b} do not broadcast");
        }
        return new Shape(dims);
    }
}
