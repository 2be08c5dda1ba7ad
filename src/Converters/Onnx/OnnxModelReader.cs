using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Onnx;

/// <summary>A graph input or output as the file declares it: dims are numbers or dim_param names.</summary>
public sealed record OnnxValueSummary(string Name, DataType? DType, IReadOnlyList<string> Dims)
{
    public override string ToString() => $"{Name}: {DType?.ShortName() ?? "?"}[{string.Join(", ", Dims)}]";
}

/// <summary>An initializer: inline, or external (location, offset, length).</summary>
public sealed record OnnxInitializerSummary(string Name, DataType? DType, long[] Dims, long Bytes, string? Location, long Offset);

/// <summary>What an ONNX file holds, enough to round-trip and check what <see cref="OnnxExporter"/> writes.</summary>
public sealed record OnnxModelSummary(
    string Path,
    long IrVersion,
    int Opset,
    string Producer,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<OnnxValueSummary> Inputs,
    IReadOnlyList<OnnxValueSummary> Outputs,
    IReadOnlyDictionary<string, int> OpCounts,
    IReadOnlyList<OnnxInitializerSummary> Initializers)
{
    public long InitializerBytes => Initializers.Sum(i => i.Bytes);
}

/// <summary>
/// Reads and checks an ONNX file: valid protobuf with a graph, default-domain opset, and external data that stays in
/// the model's folder and exists with at least offset+length bytes. Every defect is an <see cref="OnnxFormatException"/>.
/// </summary>
public static class OnnxModelReader
{
    public static OnnxModelSummary Read(string modelPath)
    {
        modelPath = System.IO.Path.GetFullPath(modelPath);
        var model = OnnxModelEditor.Read(modelPath);
        string folder = System.IO.Path.GetDirectoryName(modelPath)!;
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")
            ?? throw new OnnxFormatException(modelPath, "imports no default-domain opset");
        var inits = model.Graph.Initializer.Select(t => Initializer(modelPath, folder, t)).ToArray();
        return new OnnxModelSummary(
            modelPath,
            model.IrVersion,
            checked((int)opset.Version),
            model.ProducerName,
            model.MetadataProps.ToDictionary(p => p.Key, p => p.Value),
            model.Graph.Input.Select(Value).ToArray(),
            model.Graph.Output.Select(Value).ToArray(),
            model.Graph.Node.GroupBy(n => n.OpType).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()),
            inits);
    }

    private static OnnxValueSummary Value(ValueInfoProto v)
    {
        var t = v.Type?.TensorType;
        var dims = t?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam).ToArray() ?? [];
        return new OnnxValueSummary(v.Name, t is null ? null : OnnxTypes.FromCode(t.ElemType), dims);
    }

    private static OnnxInitializerSummary Initializer(string modelPath, string folder, TensorProto t)
    {
        var dtype = OnnxTypes.FromCode(t.DataType);
        if (t.DataLocation != TensorProto.Types.DataLocation.External)
            return new OnnxInitializerSummary(t.Name, dtype, t.Dims.ToArray(), t.RawData.Length, null, 0);
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value);
        string location = entries.GetValueOrDefault("location")
            ?? throw new OnnxFormatException(modelPath, $"initializer '{t.Name}' is external but names no location");
        if (System.IO.Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new OnnxFormatException(modelPath,
                $"initializer '{t.Name}': external data location '{location}' leaves the model's folder");
        string file = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, location));
        if (!file.StartsWith(folder + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new OnnxFormatException(modelPath,
                $"initializer '{t.Name}': external data location '{location}' leaves the model's folder");
        long Number(string key) => entries.TryGetValue(key, out var s)
            ? (long.TryParse(s, out long v) && v >= 0 ? v
                : throw new OnnxFormatException(modelPath, $"initializer '{t.Name}': bad external {key} '{s}'"))
            : 0;
        long offset = Number("offset"), length = Number("length");
        if (!File.Exists(file))
            throw new OnnxFormatException(modelPath, $"initializer '{t.Name}': external data file {location} is missing");
        if (IO.SafeFile.Defect(file) is { } defect)
            throw new OnnxFormatException(modelPath, $"initializer '{t.Name}': external data file {location} {defect}");
        // The length of what a symbolic link points to (validate links external data into its private folder).
        var info = new FileInfo(file);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        if (info.Length < offset + length)
            throw new OnnxFormatException(modelPath,
                $"initializer '{t.Name}': external data file {location} is shorter than offset {offset} + length {length}");
        return new OnnxInitializerSummary(t.Name, dtype, t.Dims.ToArray(), length, location, offset);
    }
}
