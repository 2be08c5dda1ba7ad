using System.Runtime.InteropServices;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>
/// A path's results (outputs and trace values) of each case, kept in a private temporary safetensors file from the end of
/// that path's pass until the case is compared after its last path (ParityRunner.RunCases): memory holds one case's
/// results at a time, however many cases a fixture has. Values come back exactly (f32 / i64 bytes, each tensor's
/// computed type in the file's metadata). The folder is removed on dispose.
/// </summary>
internal sealed class ResultSpill : IDisposable
{
    private readonly string _dir = Converters.IO.PrivateTemp.NewFolder("validate-results");
    private int _files;

    /// <summary>Writes <paramref name="results"/> to a new file; the returned function reads them back (once or more).</summary>
    public Func<IReadOnlyDictionary<string, HostTensor>> Keep(IReadOnlyDictionary<string, HostTensor> results)
    {
        string path = Path.Combine(_dir, $"{_files++}.safetensors");
        var meta = results.ToDictionary(kv => "dtype:" + kv.Key, kv => kv.Value.DType.ToString());
        SafetensorsWriter.Write(path, results.Select(kv => kv.Value.Floats is { } f
            ? new WritableTensor(kv.Key, DataType.Float32, kv.Value.Shape, () => MemoryMarshal.AsBytes(f.AsSpan()).ToArray())
            : new WritableTensor(kv.Key, DataType.Int64, kv.Value.Shape,
                () => MemoryMarshal.AsBytes(kv.Value.Longs!.AsSpan()).ToArray())).ToList(),
            meta);
        return () =>
        {
            using var file = SafetensorsFile.Open(path);
            return file.Tensors.ToDictionary(t => t.Name, t => t.DType == DataType.Int64
                ? new HostTensor(t.Shape, MemoryMarshal.Cast<byte, long>(file.GetBytes(t.Name)).ToArray())
                : new HostTensor(t.Shape, file.ReadAsFloat32(t.Name), Enum.Parse<DataType>(file.Metadata["dtype:" + t.Name])),
                StringComparer.Ordinal);
        };
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
            // Left to the temp sweep (PrivateTemp names the owner's PID).
        }
    }
}
