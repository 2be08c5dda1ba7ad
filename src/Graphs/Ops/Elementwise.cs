using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>Binary elementwise op with numpy broadcasting; both inputs have the same element type.</summary>
public abstract record BinaryOp : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 2, 2);
        SameType(inputs[0], inputs[1], Kind);
        return One(inputs[0].DType, Shape.Broadcast(inputs[0].Shape, inputs[1].Shape));
    }
}

public sealed record Add : BinaryOp;

public sealed record Sub : BinaryOp;

public sealed record Mul : BinaryOp;

public sealed record Div : BinaryOp;

/// <summary>Unary elementwise op on floating-point input; output has the input's type.</summary>
public abstract record UnaryOp : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        FloatType(inputs[0], Kind + " input");
        return [inputs[0]];
    }
}

public sealed record Neg : UnaryOp;

public sealed record Sqrt : UnaryOp;

public sealed record Sigmoid : UnaryOp;

/// <summary>GELU: exact (erf) form, or the tanh approximation when <paramref name="Tanh"/> is set.</summary>
public sealed record Gelu(bool Tanh = false) : UnaryOp;

/// <summary>Passes its input through unchanged (names graph outputs).</summary>
public sealed record Identity : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        return [inputs[0]];
    }
}

/// <summary>Converts the element type (precision plans insert these around fp32 islands).</summary>
public sealed record Cast(DataType To) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        return One(To, inputs[0].Shape);
    }
}
