namespace ModelForge.Graphs.Ir;

/// <summary>The static type of a value: element type and shape.</summary>
public readonly record struct TensorType(DataType DType, Shape Shape)
{
    public override string ToString() => $"{DType.ShortName()}{Shape}";
}

/// <summary>
/// An SSA value: produced once (by a node, or as a graph input or initializer), read by any number of nodes.
/// Names are unique in a graph and carry the builder's scope ("sam.blocks.3.attn.qkv"), which is how traces,
/// reports and the ONNX file name things.
/// </summary>
public sealed class Value
{
    internal Value(string name, TensorType type, Node? producer, Initializer? initializer)
    {
        Name = name;
        Type = type;
        Producer = producer;
        Initializer = initializer;
    }

    public string Name { get; }

    public TensorType Type { get; }

    public DataType DType => Type.DType;

    public Shape Shape => Type.Shape;

    /// <summary>The node computing this value; null for graph inputs and initializers.</summary>
    public Node? Producer { get; }

    /// <summary>Constant data when this value is an initializer.</summary>
    public Initializer? Initializer { get; }

    public bool IsConstant => Initializer is not null;

    public override string ToString() => $"%{Name}: {Type}";
}

/// <summary>One operation applied to input values, producing output values.</summary>
public sealed class Node
{
    // Mutable only through Graph.SetInput / ReplaceAllUses, which re-check the op's type inference.
    private readonly Value[] _inputs;

    internal Node(string name, Ops.Op op, IReadOnlyList<Value> inputs)
    {
        Name = name;
        Op = op;
        _inputs = inputs.ToArray();
    }

    public string Name { get; }

    public Ops.Op Op { get; }

    public IReadOnlyList<Value> Inputs => _inputs;

    internal void SetInput(int index, Value v) => _inputs[index] = v;

    public IReadOnlyList<Value> Outputs { get; internal set; } = [];

    public override string ToString() =>
        $"{string.Join(", ", Outputs.Select(o => "%" + o.Name))} = {Op}({string.Join(", ", Inputs.Select(i => "%" + i.Name))})";
}

/// <summary>A constant tensor of the graph: its value and where its bytes come from.</summary>
public sealed class Initializer(Value value, TensorData data)
{
    public Value Value { get; internal set; } = value;

    public TensorData Data { get; internal set; } = data;
}
