using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>
/// A typed operation. Every concrete op is a sealed record in this namespace; each back-end interprets them
/// with one exhaustive switch, and the op-coverage test walks <see cref="OpCatalog.All"/> through every back-end.
/// Semantics follow ONNX where ONNX has the op (numpy broadcasting, row-major reshapes).
/// </summary>
public abstract record Op
{
    /// <summary>The op's kind name ("MatMul", "LayerNorm", ...), as shown in reports and Supports() lists.</summary>
    public string Kind => GetType().Name;

    /// <summary>Checks input types and returns output types; throws <see cref="GraphException"/> on a mismatch.</summary>
    public abstract IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs);

    protected static void Arity(IReadOnlyList<TensorType> inputs, int min, int max)
    {
        if (inputs.Count < min || inputs.Count > max)
            throw new GraphException(min == max ? $"expects {min} inputs, got {inputs.Count}"
                : $"expects {min}..{max} inputs, got {inputs.Count}");
    }

    protected static void Rank(TensorType t, int rank, string what)
    {
        if (t.Shape.Rank != rank) throw new GraphException($"{what} must have rank {rank}, got {t.Shape}");
    }

    protected static void FloatType(TensorType t, string what)
    {
        if (!t.DType.IsFloat()) throw new GraphException($"{what} must be floating point, got {t.DType.ShortName()}");
    }

    protected static void SameType(TensorType a, TensorType b, string what)
    {
        if (a.DType != b.DType) throw new GraphException($"{what}: element types differ ({a.DType.ShortName()} vs {b.DType.ShortName()})");
    }

    protected static IReadOnlyList<TensorType> One(DataType dtype, Shape shape) => [new TensorType(dtype, shape)];
}

/// <summary>Lists every concrete op kind, so that tests and back-ends can check they cover all of them.</summary>
public static class OpCatalog
{
    public static IReadOnlyList<Type> All { get; } = typeof(Op).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Op)) && !t.IsAbstract)
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .ToArray();
}
