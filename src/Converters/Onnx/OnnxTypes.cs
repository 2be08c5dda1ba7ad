using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Onnx;

/// <summary>A malformed or unusable ONNX file: one line naming the file and the defect.</summary>
public sealed class OnnxFormatException(string file, string defect) : Exception($"{file}: {defect}")
{
    public string FilePath { get; } = file;
}

/// <summary>IR <see cref="DataType"/> &lt;-&gt; ONNX TensorProto.DataType codes.</summary>
public static class OnnxTypes
{
    public static int Code(DataType t) => (int)(t switch
    {
        DataType.Float32 => TensorProto.Types.DataType.Float,
        DataType.Float16 => TensorProto.Types.DataType.Float16,
        DataType.BFloat16 => TensorProto.Types.DataType.Bfloat16,
        DataType.Float64 => TensorProto.Types.DataType.Double,
        DataType.Int64 => TensorProto.Types.DataType.Int64,
        DataType.Int32 => TensorProto.Types.DataType.Int32,
        DataType.Int16 => TensorProto.Types.DataType.Int16,
        DataType.Int8 => TensorProto.Types.DataType.Int8,
        DataType.UInt8 => TensorProto.Types.DataType.Uint8,
        DataType.Bool => TensorProto.Types.DataType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    });

    public static DataType? FromCode(int code) => (TensorProto.Types.DataType)code switch
    {
        TensorProto.Types.DataType.Float => DataType.Float32,
        TensorProto.Types.DataType.Float16 => DataType.Float16,
        TensorProto.Types.DataType.Bfloat16 => DataType.BFloat16,
        TensorProto.Types.DataType.Double => DataType.Float64,
        TensorProto.Types.DataType.Int64 => DataType.Int64,
        TensorProto.Types.DataType.Int32 => DataType.Int32,
        TensorProto.Types.DataType.Int16 => DataType.Int16,
        TensorProto.Types.DataType.Int8 => DataType.Int8,
        TensorProto.Types.DataType.Uint8 => DataType.UInt8,
        TensorProto.Types.DataType.Bool => DataType.Bool,
        _ => null,
    };

    /// <summary>ValueInfo with symbolic dims as dim_param ("B", "4*B").</summary>
    public static ValueInfoProto ValueInfo(string name, TensorType type)
    {
        var shape = new TensorShapeProto();
        foreach (var d in type.Shape.Dims)
            shape.Dim.Add(d.IsKnown
                ? new TensorShapeProto.Types.Dimension { DimValue = d.Value }
                : new TensorShapeProto.Types.Dimension { DimParam = d.ToString() });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = Code(type.DType), Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public static AttributeProto Float(string name, float v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    public static AttributeProto Str(string name, string v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, IEnumerable<long> v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }
}
