using System.Text;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>
/// Row-major reshape to <paramref name="Target"/>. At most one target dimension may be <c>Dim.Of(-1)</c> (inferred);
/// others may be symbolic (e.g. 4*B) and are checked against the input's element count. Element counts are compared as
/// a known factor times a multiset of symbols, so shapes with several symbols on different axes (Qwen2-VL's frames F and
/// per-frame tokens 4*M: [F, 4*M, C] -> [F, 4*M, h, d]) reshape as long as every symbol stays on one axis of its own.
/// </summary>
public sealed record Reshape(Shape Target) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        var source = inputs[0].Shape;
        var (total, symbols) = Count(source.Dims, source);
        int inferAt = -1;
        var rest = new List<Dim>();
        for (int i = 0; i < Target.Rank; i++)
        {
            if (Target[i] == Dim.Of(-1))
            {
                if (inferAt >= 0) throw new GraphException($"two inferred dimensions in {Target}");
                inferAt = i;
            }
            else if (Target[i].Factor <= 0) throw new GraphException($"bad dimension {Target[i]} in {Target}");
            else rest.Add(Target[i]);
        }
        var (restKnown, restSymbols) = Count(rest, source);
        string Fail() => $"cannot reshape {source} ({Describe(total, symbols)} elements) to {Target}";
        if (inferAt < 0)
        {
            if (restKnown != total || !restSymbols.SequenceEqual(symbols)) throw new GraphException(Fail());
            return One(inputs[0].DType, Target);
        }
        // The inferred dim takes what is left: the known quotient and at most one leftover symbol.
        var left = new List<string>(symbols);
        foreach (var s in restSymbols)
            if (!left.Remove(s)) throw new GraphException(Fail());
        if (total % restKnown != 0 || left.Count > 1) throw new GraphException(Fail());
        return One(inputs[0].DType, Target.With(inferAt, new Dim(total / restKnown, left.Count == 1 ? left[0] : null)));
    }

    /// <summary>Known product and sorted symbols of some dims (the symbolic ones counted by their factor).</summary>
    private static (long Known, List<string> Symbols) Count(IEnumerable<Dim> dims, Shape source)
    {
        long known = 1;
        var symbols = new List<string>();
        try
        {
            foreach (var d in dims)
            {
                known = checked(known * d.Factor);
                if (!d.IsKnown) symbols.Add(d.Symbol!);
            }
        }
        catch (OverflowException)
        {
            throw new GraphException($"reshape of {source}: element count overflows a 64-bit integer");
        }
        symbols.Sort(StringComparer.Ordinal);
        return (known, symbols);
    }

    private static string Describe(long known, List<string> symbols) =>
        symbols.Count == 0 ? known.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : (known == 1 ? "" : known.ToString(System.Globalization.CultureInfo.InvariantCulture) + "*") + string.Join("*", symbols);

    protected override bool PrintMembers(StringBuilder b) { b.Append("Target = ").Append(Target); return true; }
}

/// <summary>Axis permutation: output axis i is input axis Perm[i].</summary>
public sealed record Transpose(int[] Perm) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        var s = inputs[0].Shape;
        if (Perm.Length != s.Rank || Perm.OrderBy(p => p).Where((p, i) => p != i).Any())
            throw new GraphException($"perm [{string.Join(",", Perm)}] is not a permutation of rank {s.Rank}");
        return One(inputs[0].DType, new Shape(Perm.Select(p => s[p])));
    }

    protected override bool PrintMembers(StringBuilder b) { b.Append("Perm = [").AppendJoin(",", Perm).Append(']'); return true; }
}

/// <summary>Concatenation along one axis; all other dimensions and the element type must agree.</summary>
public sealed record Concat(int Axis) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        if (inputs.Count < 1) throw new GraphException("needs at least one input");
        var first = inputs[0].Shape;
        int axis = first.Axis(Axis);
        Dim sum = 0;
        foreach (var t in inputs)
        {
            SameType(inputs[0], t, "Concat");
            if (t.Shape.Rank != first.Rank) throw new GraphException($"ranks differ: {first} vs {t.Shape}");
            for (int i = 0; i < first.Rank; i++)
                if (i != axis && t.Shape[i] != first[i]) throw new GraphException($"shapes {first} and {t.Shape} differ off axis {axis}");
            if (sum.Factor != 0 && t.Shape[axis].Symbol != sum.Symbol)
                throw new GraphException($"cannot concatenate along a mix of symbolic sizes ({sum} + {t.Shape[axis]})");
            sum = new Dim(sum.Factor + t.Shape[axis].Factor, t.Shape[axis].Symbol ?? sum.Symbol);
        }
        return One(inputs[0].DType, first.With(axis, sum));
    }
}

/// <summary>Elements [Start, End) of one axis (step 1); the axis must have a known size, End is clamped to it.</summary>
public sealed record Slice(int Axis, long Start, long End) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        var s = inputs[0].Shape;
        int axis = s.Axis(Axis);
        long size = s[axis].Value;
        long end = Math.Min(End, size);
        if (Start < 0 || Start >= end) throw new GraphException($"empty or negative slice [{Start}, {End}) of axis {axis} (size {size})");
        return One(inputs[0].DType, s.With(axis, end - Start));
    }
}

/// <summary>Zero padding: <paramref name="Pads"/> = [begin per axis..., end per axis...] as in ONNX Pad.</summary>
public sealed record Pad(long[] Pads) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        var s = inputs[0].Shape;
        if (Pads.Length != 2 * s.Rank || Pads.Any(p => p < 0))
            throw new GraphException($"pads [{string.Join(",", Pads)}] do not fit rank {s.Rank}");
        var dims = new Dim[s.Rank];
        for (int i = 0; i < s.Rank; i++)
            dims[i] = Pads[i] == 0 && Pads[i + s.Rank] == 0 ? s[i] : s[i].Value + Pads[i] + Pads[i + s.Rank];
        return One(inputs[0].DType, new Shape(dims));
    }

    protected override bool PrintMembers(StringBuilder b) { b.Append("Pads = [").AppendJoin(",", Pads).Append(']'); return true; }
}

/// <summary>Broadcasts the input to <paramref name="Target"/> (numpy rules; the target may be symbolic, e.g. [B, 1, C]).</summary>
public sealed record Expand(Shape Target) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        var result = Shape.Broadcast(inputs[0].Shape, Target);
        if (!result.Equals(Target)) throw new GraphException($"cannot expand {inputs[0].Shape} to {Target}");
        return One(inputs[0].DType, Target);
    }

    protected override bool PrintMembers(StringBuilder b) { b.Append("Target = ").Append(Target); return true; }
}

/// <summary>
/// ONNX Gather: picks entries of <c>data</c> along <paramref name="Axis"/> by an int64 <c>indices</c> tensor (values in
/// [0, size), checked by the back-ends at run time). Output shape: data[..axis] + indices.shape + data[axis+1..].
/// Used for host-computed permutations (Qwen2.5-VL's window order) whose length grows linearly with the tokens.
/// </summary>
public sealed record Gather(int Axis) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 2, 2);
        var data = inputs[0].Shape;
        int axis = data.Axis(Axis);
        if (inputs[1].DType != DataType.Int64) throw new GraphException($"indices must be i64, got {inputs[1].DType.ShortName()}");
        var dims = data.Dims.Take(axis).Concat(inputs[1].Shape.Dims).Concat(data.Dims.Skip(axis + 1));
        return One(inputs[0].DType, new Shape(dims));
    }
}
