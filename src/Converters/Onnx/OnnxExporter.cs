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

    /// <summary>
    /// ONNX op types the consumer accepts (a target's allowed-op list, src/Converters/Targets); null = every op of the
    /// opset. Fused IR ops are written decomposed when their ONNX op is not in the set.
    /// </summary>
    public IReadOnlySet<string>? AllowedOps { get; init; }
}

/// <summary>What an ONNX export wrote (with a shared data file, <see cref="ExternalBytes"/> is that file's size).</summary>
public sealed record OnnxExportResult(string ModelPath, string? ExternalDataPath, long ModelBytes, long ExternalBytes, int NodeCount,
    int InitializerCount)
{
    /// <summary>SHA-256 (lower-case hex) of the external-data file, hashed while it was written (saves re-reading it).</summary>
    public string? ExternalDataSha256 { get; init; }
}

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
        Check(g, o);
        modelPath = Path.GetFullPath(modelPath);
        string dataPath = modelPath + ".data";
        var initializers = UsedInitializers(g);
        long total = initializers.Sum(i => i.Value.Shape.ElementCount.Value * i.Value.DType.SizeOf());
        bool external = total > o.ExternalDataThreshold || total > ProtobufLimit;
        string dataTemp = dataPath + $".partial-{Environment.ProcessId}";
        try
        {
            long externalBytes;
            int nodes, inits;
            string? sha = null;
            using (var data = external ? new ExternalData(dataTemp, Path.GetFileName(dataPath), weights) : null)
            {
                (nodes, inits) = WriteModel(g, weights, modelPath, o, initializers, data);
                externalBytes = data?.Finish() ?? 0;
                sha = data?.Sha256;
            }
            if (external) File.Move(dataTemp, dataPath, overwrite: true);
            else if (File.Exists(dataPath)) File.Delete(dataPath);
            return new OnnxExportResult(modelPath, external ? dataPath : null, new FileInfo(modelPath).Length, externalBytes, nodes, inits)
            {
                ExternalDataSha256 = sha
            };
        }
        finally
        {
            if (File.Exists(dataTemp)) File.Delete(dataTemp);
        }
    }

    /// <summary>
    /// Writes several models (the parts of one artifact, e.g. DeepSeek-OCR Gundam's global.onnx and local.onnx) against ONE
    /// external-data file: a tensor both parts hold (same checkpoint weight or same export-time table, same type and shape)
    /// is written once and referenced by both. Deterministic: parts in the given order, tensors in graph order.
    /// </summary>
    public static IReadOnlyList<OnnxExportResult> ExportShared(IReadOnlyList<(Graph Graph, string ModelPath)> parts, IWeightSource weights,
        string dataPath, OnnxExportOptions? o = null)
    {
        o ??= new OnnxExportOptions();
        foreach (var (g, _) in parts) Check(g, o);
        dataPath = Path.GetFullPath(dataPath);
        string dataTemp = dataPath + $".partial-{Environment.ProcessId}";
        var results = new List<OnnxExportResult>();
        try
        {
            long externalBytes;
            string sha;
            using (var data = new ExternalData(dataTemp, Path.GetFileName(dataPath), weights))
            {
                foreach (var (g, path) in parts)
                {
                    string modelPath = Path.GetFullPath(path);
                    if (Path.GetDirectoryName(modelPath) != Path.GetDirectoryName(dataPath))
                        throw new ArgumentException($"{modelPath}: shared external data must sit next to every model ({dataPath})");
                    var (nodes, inits) = WriteModel(g, weights, modelPath, o, UsedInitializers(g), data);
                    results.Add(new OnnxExportResult(modelPath, dataPath, new FileInfo(modelPath).Length, 0, nodes, inits));
                }
                externalBytes = data.Finish();
                sha = data.Sha256!;
            }
            File.Move(dataTemp, dataPath, overwrite: true);
            return results.Select(r => r with { ExternalBytes = externalBytes, ExternalDataSha256 = sha }).ToArray();
        }
        finally
        {
            if (File.Exists(dataTemp)) File.Delete(dataTemp);
        }
    }

    private static void Check(Graph g, OnnxExportOptions o)
    {
        var unsupported = Unsupported(g, o);
        if (unsupported.Count > 0) throw new NotSupportedException($"cannot export to ONNX: {string.Join(", ", unsupported)}");
    }

    private static Initializer[] UsedInitializers(Graph g)
    {
        var used = new HashSet<string>(g.Nodes.SelectMany(n => n.Inputs.Select(i => i.Name)).Concat(g.Outputs.Select(v => v.Name)));
        return g.Initializers.Where(i => used.Contains(i.Value.Name)).ToArray();
    }

    /// <summary>
    /// Lowers and writes one model (atomically: temp file + rename); initializers inline or into <paramref name="data"/>.
    /// </summary>
    private static (int Nodes, int Initializers) WriteModel(Graph g, IWeightSource weights, string modelPath, OnnxExportOptions o,
        Initializer[] initializers, ExternalData? data)
    {
        var graph = new GraphProto { Name = g.Name };
        var lowering = new OnnxLowering(g, graph, o.Opset, o.AllowedOps);
        foreach (var n in g.Nodes) lowering.Emit(n);
        if (o.AllowedOps is { } allowed
            && graph.Node.Select(n => n.OpType).Where(t => !allowed.Contains(t)).Distinct().ToArray() is { Length: > 0 } bad)
            throw new NotSupportedException(
                $"cannot export {g.Name}: ONNX ops {string.Join(", ", bad)} are outside the target's allowed set");
        foreach (var i in g.Inputs) graph.Input.Add(OnnxTypes.ValueInfo(i.Name, i.Type));
        foreach (var v in g.Outputs) graph.Output.Add(OnnxTypes.ValueInfo(v.Name, v.Type));
        foreach (var extra in o.ExtraOutputs.Distinct())
        {
            if (g.Outputs.Any(v => v.Name == extra)) continue;
            var v = g.Find(extra) ?? throw new ArgumentException($"extra output '{extra}' is not a value of graph {g.Name}");
            graph.Output.Add(OnnxTypes.ValueInfo(v.Name, v.Type));
        }

        var materializer = new TensorMaterializer(weights);
        foreach (var init in initializers)
        {
            var t = new TensorProto { Name = init.Value.Name, DataType = OnnxTypes.Code(init.Value.DType) };
            t.Dims.AddRange(init.Value.Shape.ToLongs());
            if (data is null)
            {
                t.RawData = ByteString.CopyFrom(materializer.ReadBytes(init).Span);
            }
            else
            {
                var (offset, length) = data.Store(init);
                t.DataLocation = TensorProto.Types.DataLocation.External;
                t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = data.FileName });
                t.ExternalData.Add(new StringStringEntryProto
                {
                    Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture)
                });
                t.ExternalData.Add(new StringStringEntryProto
                {
                    Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture)
                });
            }
            graph.Initializer.Add(t);
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
        string modelTemp = modelPath + $".partial-{Environment.ProcessId}";
        try
        {
            using (var f = new FileStream(modelTemp, FileMode.Create, FileAccess.Write))
            {
                model.WriteTo(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(modelTemp, modelPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(modelTemp)) File.Delete(modelTemp);
        }
        return (graph.Node.Count, graph.Initializer.Count);
    }

    /// <summary>
    /// An external-data file being written: tensors on 4 KiB boundaries (ONNX Runtime memory-maps them), each distinct
    /// tensor once. Identity of a tensor = its type, shape and where its numbers come from (checkpoint key, literal, or an
    /// export-time table's description and sources: derived tables are pure functions of those). Tensors are streamed in
    /// chunks (<see cref="TensorStreamer"/>) through a <see cref="ChunkWriter"/>, which writes and hashes on a second thread.
    /// </summary>
    private sealed class ExternalData(string path, string fileName, IWeightSource weights) : IDisposable
    {
        private readonly ChunkWriter _writer = new(path);
        private readonly TensorStreamer _streamer = new(weights);
        private readonly Dictionary<string, (long Offset, long Length)> _stored = new(StringComparer.Ordinal);

        public string FileName { get; } = fileName;

        /// <summary>The file's SHA-256 (lower-case hex), once <see cref="Finish"/> returned.</summary>
        public string? Sha256 { get; private set; }

        public (long Offset, long Length) Store(Initializer init)
        {
            string key = $"{init.Value.Type}|{Describe(init.Data)}";
            if (_stored.TryGetValue(key, out var at)) return at;
            long offset = (_writer.Position + Alignment - 1) / Alignment * Alignment;
            _writer.WriteZeros(offset - _writer.Position);
            long length = _streamer.Write(init, _writer);
            return _stored[key] = (offset, length);
        }

        public long Finish()
        {
            var (length, sha) = _writer.Finish();
            Sha256 = sha;
            return length;
        }

        public void Dispose() => _writer.Dispose();

        private static string Describe(TensorData d) => d switch
        {
            WeightData w => "w:" + w.Key,
            LiteralData { Floats: { } f } => "f:" + Convert.ToHexString(System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan())),
            LiteralData { Longs: { } l } => "l:" + string.Join(",", l),
            DerivedData x => $"d:{x.Description}({string.Join(";", x.Sources.Select(Describe))})",
            _ => "?" + d.GetHashCode(),
        };
    }

    /// <summary>ONNX IR version paired with the opset (onnx/docs/Versioning.md): 17-18 -> 8, 19-20 -> 9, 21-22 -> 10, 23 -> 11.</summary>
    public static long IrVersion(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };
}
