using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Ops;

/// <summary>LayerNorm over the last axis: inputs x [..., C], scale [C], bias [C] (ONNX LayerNormalization, axis -1).</summary>
public sealed record LayerNorm(double Epsilon) : Op
{
    /// <summary>
    /// Type the mean and variance are computed in. f32 (default) for any input type, as ONNX Runtime's and PyTorch's
    /// kernels do; f16/bf16 only when a precision plan deliberately leaves LayerNorm out of its fp32 islands, and then
    /// every back-end computes the statistics in that type (ONNX: written decomposed, so no runtime silently upcasts).
    /// </summary>
    public DataType Statistics { get; init; } = DataType.Float32;

    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 3, 3);
        FloatType(inputs[0], "LayerNorm input");
        Dim c = inputs[0].Shape[^1];
        for (int i = 1; i < 3; i++)
        {
            if (inputs[i].Shape.Rank != 1 || inputs[i].Shape[0] != c)
                throw new GraphException($"{(i == 1 ? "scale" : "bias")} must be [{c}], got {inputs[i].Shape}");
            SameType(inputs[0], inputs[i], "LayerNorm");
        }
        return [inputs[0]];
    }
}

/// <summary>
/// RMSNorm over the last axis (Qwen2 / Qwen2.5-VL / InternViT-6B): x [..., C], scale [C] ->
/// x / sqrt(mean(x², -1) + eps) * scale (ONNX RMSNormalization-23, axis -1; no bias, no mean subtraction).
/// </summary>
public sealed record RmsNorm(double Epsilon) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 2, 2);
        FloatType(inputs[0], "RmsNorm input");
        if (Epsilon < 0 || !double.IsFinite(Epsilon)) throw new GraphException($"epsilon must be a finite number >= 0, got {Epsilon}");
        Dim c = inputs[0].Shape[^1];
        if (inputs[1].Shape.Rank != 1 || inputs[1].Shape[0] != c)
            throw new GraphException($"scale must be [{c}], got {inputs[1].Shape}");
        SameType(inputs[0], inputs[1], "RmsNorm");
        return [inputs[0]];
    }
}

/// <summary>Softmax along one axis.</summary>
public sealed record Softmax(int Axis) : Op
{
    public override IReadOnlyList<TensorType> Infer(IReadOnlyList<TensorType> inputs)
    {
        Arity(inputs, 1, 1);
        FloatType(inputs[0], "Softmax input");
        inputs[0].Shape.Axis(Axis);
        return [inputs[0]];
    }
}
