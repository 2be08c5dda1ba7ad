using Google.Protobuf;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Onnx;

/// <summary>Small edits of an existing ONNX file (the artifact a user ships), without touching its weights.</summary>
public static class OnnxModelEditor
{
    /// <summary>
    /// A copy of <paramref name="modelPath"/> that also exposes the named intermediate values as graph outputs (typed from
    /// the IR, since ONNX Runtime needs output types), returned as bytes: nothing is written, not even beside the user's
    /// artifact. For ONNX Runtime sessions created from memory, whose external data is then read from the original
    /// model's folder. Values absent from the model are skipped.
    /// </summary>
    public static byte[] WithExtraOutputsInMemory(string modelPath, IEnumerable<(string Name, TensorType Type)> values)
    {
        var model = Read(modelPath);
        var produced = new HashSet<string>(model.Graph.Node.SelectMany(n => n.Output));
        var existing = new HashSet<string>(model.Graph.Output.Select(o => o.Name));
        foreach (var (name, type) in values)
            if (produced.Contains(name) && existing.Add(name)) model.Graph.Output.Add(OnnxTypes.ValueInfo(name, type));
        return model.ToByteArray();
    }

    /// <summary>Parses a model file (weights in external data stay where they are).</summary>
    public static ModelProto Read(string modelPath)
    {
        if (!File.Exists(modelPath)) throw new OnnxFormatException(modelPath, "not found");
        if (IO.SafeFile.Defect(modelPath) is { } defect) throw new OnnxFormatException(modelPath, defect);
        var info = new FileInfo(modelPath);
        if (info.Length >= int.MaxValue)
            throw new OnnxFormatException(modelPath,
                "larger than 2 GiB: not a valid ONNX protobuf (large weights belong in external data)");
        try
        {
            using var s = IO.SafeFile.OpenRead(modelPath, modelPath);
            var model = ModelProto.Parser.ParseFrom(s);
            if (model.Graph is null) throw new OnnxFormatException(modelPath, "has no graph");
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException(modelPath, $"not a valid ONNX model ({e.Message})");
        }
    }
}
