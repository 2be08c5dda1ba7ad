using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ModelForge.Converters.Checkpoints;

namespace ModelForge.Tests.Support;

/// <summary>
/// A temporary copy of a golden fixture, optionally cut down to some cases, with golden outputs edited (the originals are
/// never touched): for tests of how validate judges a golden that is wrong.
/// </summary>
public static class FixtureCopy
{
    /// <param name="source">A fixture folder (fixture.json, model.safetensors, golden.safetensors).</param>
    /// <param name="dest">The folder to write (created).</param>
    /// <param name="cases">Case names to keep (null: all).</param>
    /// <param name="editOutput">Called with (tensor name "caseN.output.X", values) for every golden output; edits in place.</param>
    /// <param name="editJson">Edits fixture.json (e.g. adds "tolerances").</param>
    public static string Make(string source, string dest, string[]? cases = null, Action<string, float[]>? editOutput = null,
        Action<JsonObject>? editJson = null)
    {
        Directory.CreateDirectory(dest);
        File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(dest, "model.safetensors"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "fixture.json")))!.AsObject();
        if (cases is not null)
        {
            var kept = new JsonArray(json["cases"]!.AsArray().Where(c => cases.Contains(c!["name"]!.GetValue<string>()))
                .Select(c => c!.DeepClone()).ToArray());
            json["cases"] = kept;
        }
        editJson?.Invoke(json);
        File.WriteAllText(Path.Combine(dest, "fixture.json"), json.ToJsonString());

        using var golden = SafetensorsFile.Open(Path.Combine(source, "golden.safetensors"));
        var tensors = new List<WritableTensor>();
        foreach (var t in golden.Tensors)
        {
            string caseName = t.Name.Split('.')[0];
            if (cases is not null && !cases.Contains(caseName)) continue;
            if (editOutput is not null && t.Name.Contains(".output.", StringComparison.Ordinal))
            {
                var values = golden.ReadAsFloat32(t.Name);
                editOutput(t.Name, values);
                var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
                tensors.Add(new WritableTensor(t.Name, ModelForge.Graphs.Ir.DataType.Float32, t.Shape, () => bytes));
            }
            else
            {
                var bytes = golden.GetBytes(t.Name).ToArray();
                tensors.Add(new WritableTensor(t.Name, t.DType, t.Shape, () => bytes));
            }
        }
        SafetensorsWriter.Write(Path.Combine(dest, "golden.safetensors"), tensors, golden.Metadata);
        return dest;
    }
}
