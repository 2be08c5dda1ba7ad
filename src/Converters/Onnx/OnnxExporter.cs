using Google.Protobuf;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Onnx;

/// <summary>
/// ONNX export options. Opset 17 is the default: the first with LayerNormalization, and what TensorRT 8.6+/10,
/// ONNX Runtime 1.14+ and torch.onnx.export's default all accept; 20+ uses the native Gelu op.
/// Weights go to an external-data file when they total more than <see cref="ExternalDataThreshold"/> bytes
/// (always beyond 2 GB, protobuf's hard limit for one message).
/// </summary>
public sealed record OnnxExportOptions(int Opset = 17, long ExternalDataThreshold = 1L << 30, string ProducerVersion = "0.1.0")
{
    /// <summary>IR value names to expose as extra graph outputs (e.g. traces compared by `validate`).</summary>
    public IReadOnlyList<string> ExtraOutputs { get; init; } = [];
}

/// <summary>What an ONNX export wrote.</summary>
public sealed record OnnxExportResult(string ModelPath, string? ExternalDataPath, long ModelBytes, long ExternalBytes, int NodeCount, int InitializerCount);

/// <summary>Writes an IR graph as an ONNX model, deterministically (same graph + weights = same bytes).</summary>
public static class OnnxExporter
{
    /// <summary>The opsets the lowering supports (for callers that check --opset before any work).</summary>
    public const int MinOpset = OnnxLowering.MinOpset, MaxOpset = OnnxLowering.MaxOpset;

    /// <summary>Protobuf refuses messages of 2 GiB or more; weights that large must be external.</summary>
    private const long ProtobufLimit = (1L << 31) - (16L << 20);

    /// <summary>External tensors start on 4 KiB boundaries so ONNX Runtime can memory-map them on Linux.</summary>
    private const int Alignment = 4096;

    /// <summary>Nodes the ONNX back-end cannot take at this opset ("name (Kind: reason)"); an out-of-range opset is one entry.</summary>
    public static IReadOnlyList<string> Unsupported(Graph g, OnnxExportOptions o) =>
        o.Opset is < OnnxLowering.MinOpset or > OnnxLowering.MaxOpset
            ? [$"opset {o.Opset} (supported: {OnnxLowering.MinOpset}..{OnnxLowering.MaxOpset})"]
            : OnnxLowering.Unsupported(g, o.Opset);

    public static OnnxExportResult Export(Graph g, IWeightSource weights, string modelPath, OnnxExportOptions? o = null)
    {
        o ??= new OnnxExportOptions();
        var unsupported = Unsupported(g, o);
        if (unsupported.Count > 0) throw new NotSupportedException($"cannot export to ONNX: {string.Join(", ", unsupported)}");
        modelPath = Path.GetFullPath(modelPath);
        string dataName = Path.GetFileName(modelPath) + ".data";
        string dataPath = Path.Combine(Path.GetDirectoryName(modelPath)!, dataName);

        var graph = new GraphProto { Name = g.Name };
        var lowering = new OnnxLowering(g, graph, o.Opset);
        foreach (var n in g.Nodes) lowering.Emit(n);
        foreach (var i in g.Inputs) graph.Input.Add(OnnxTypes.ValueInfo(i.Name, i.Type));
        foreach (var v in g.Outputs) graph.Output.Add(OnnxTypes.ValueInfo(v.Name, v.Type));
        foreach (var extra in o.ExtraOutputs.Distinct())
        {
            if (g.Outputs.Any(v => v.Name == extra)) continue;
            var v = g.Find(extra) ?? throw new ArgumentException($"extra output '{extra}' is not a value of graph {g.Name}");
            graph.Output.Add(OnnxTypes.ValueInfo(v.Name, v.Type));
        }

        var used = new HashSet<string>(g.Nodes.SelectMany(n => n.Inputs.Select(i => i.Name)).Concat(g.Outputs.Select(v => v.Name)));
        var initializers = g.Initializers.Where(i => used.Contains(i.Value.Name)).ToArray();
        long total = initializers.Sum(i => i.Value.Shape.ElementCount.Value * i.Value.DType.SizeOf());
        bool external = total > o.ExternalDataThreshold || total > ProtobufLimit;
        long externalBytes = 0;
        string dataTemp = dataPath + $".partial-{Environment.ProcessId}";
        string modelTemp = modelPath + $".partial-{Environment.ProcessId}";
        try
        {
            using (var data = external ? new FileStream(dataTemp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20) : null)
            {
                foreach (var init in initializers)
                {
                    var bytes = new TensorMaterializer(weights).ReadBytes(init);
                    var t = new TensorProto { Name = init.Value.Name, DataType = OnnxTypes.Code(init.Value.DType) };
                    t.Dims.AddRange(init.Value.Shape.ToLongs());
                    if (data is null)
                    {
                        t.RawData = ByteString.CopyFrom(bytes.Span);
                    }
                    else
                    {
                        long offset = (data.Position + Alignment - 1) / Alignment * Alignment;
                        if (offset > data.Position) data.Write(new byte[offset - data.Position]);
                        data.Write(bytes.Span);
                        t.DataLocation = TensorProto.Types.DataLocation.External;
                        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    }
                    graph.Initializer.Add(t);
                }
                externalBytes = data?.Length ?? 0;
                data?.Flush(flushToDisk: true);
            }

            var model = new ModelProto
            {
                IrVersion = IrVersion(o.Opset),
                ProducerName = "ModelForge",
                ProducerVersion = o.ProducerVersion,
                Graph = graph,
            };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = o.Opset });
            foreach (var (k, v) in g.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
            using (var f = new FileStream(modelTemp, FileMode.Create, FileAccess.Write))
            {
                model.WriteTo(f);
                f.Flush(flushToDisk: true);
            }
            if (external) File.Move(dataTemp, dataPath, overwrite: true);
            else if (File.Exists(dataPath)) File.Delete(dataPath);
            File.Move(modelTemp, modelPath, overwrite: true);
            return new OnnxExportResult(modelPath, external ? dataPath : null, new FileInfo(modelPath).Length, externalBytes, graph.Node.Count, graph.Initializer.Count);
        }
        finally
        {
            if (File.Exists(dataTemp)) File.Delete(dataTemp);
            if (File.Exists(modelTemp)) File.Delete(modelTemp);
        }
    }

    /// <summary>ONNX IR version paired with the opset (onnx/docs/Versioning.md): 17-18 -> 8, 19-20 -> 9, 21 -> 10.</summary>
    public static long IrVersion(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };
}
