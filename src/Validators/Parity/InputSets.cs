using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>Inputs for parity runs without goldens: seeded random tensors, or tensors from a safetensors file.</summary>
public static class InputSets
{
    /// <summary>
    /// "random" (uniform in [-1, 1], the normalised pixel range; every symbolic axis = batch, or the family's own sample of
    /// processor inputs, see <see cref="Architecture.SampleInputs"/>) or a file path. A file holding grid_thw holds a
    /// Qwen-style processor batch (pixel_values + grid_thw), which the family turns into graph calls.
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> Load(string spec, Graph graph, int seed, int batch, Architecture? arch = null,
        System.Text.Json.JsonElement? config = null)
    {
        if (batch < 1) throw new ArgumentException($"--batch {batch}: must be at least 1");
        if (spec == "random") return arch?.SampleInputs(config, seed, batch) ?? Random(graph, seed, batch);
        if (!File.Exists(spec)) throw new FileNotFoundException($"--inputs {spec}: file not found (give 'random' or a .safetensors file)");
        using var file = SafetensorsFile.Open(spec);
        return Read(file, spec, graph, "");
    }

    /// <summary>
    /// As <see cref="Load"/>, for one or more cases: a file whose tensors are all named CASE.INPUT (what validate
    /// --save-inputs writes for a fixture) holds one case per CASE, in the file's order; any other spec is one case, "inputs".
    /// </summary>
    public static IReadOnlyList<(string Name, IReadOnlyDictionary<string, HostTensor> Inputs)> LoadCases(string spec, Graph graph,
        int seed, int batch, Architecture? arch = null, System.Text.Json.JsonElement? config = null)
    {
        if (spec == "random" || !File.Exists(spec)) return [("inputs", Load(spec, graph, seed, batch, arch, config))];
        if (batch < 1) throw new ArgumentException($"--batch {batch}: must be at least 1");
        using var file = SafetensorsFile.Open(spec);
        var names = file.Tensors.Select(t => t.Name).ToArray();
        bool plain = file.Contains("grid_thw") || graph.Inputs.Any(i => file.Contains(i.Name)) || names.Any(n => n.IndexOf('.') <= 0);
        if (plain) return [("inputs", Read(file, spec, graph, ""))];
        return names.Select(n => n[..n.IndexOf('.')]).Distinct(StringComparer.Ordinal)
            .Select(c => (c, Read(file, spec, graph, c + "."))).ToArray();
    }

    /// <summary>The inputs of one case: tensors named <paramref name="prefix"/> + the input name.</summary>
    private static IReadOnlyDictionary<string, HostTensor> Read(SafetensorsFile file, string spec, Graph graph, string prefix)
    {
        if (file.Contains(prefix + "grid_thw"))
        {
            foreach (var name in new[] { "pixel_values", "grid_thw" })
                if (!file.Contains(prefix + name))
                    throw new ArgumentException(
                        $"--inputs {spec}: a processor batch needs pixel_values and grid_thw; no tensor named '{prefix}{name}'");
            var grid = file.Get(prefix + "grid_thw");
            if (grid.DType.IsFloat())
                throw new ArgumentException($"--inputs {spec}: {prefix}grid_thw must be an integer tensor, not {grid.DType.ShortName()}");
            return new Dictionary<string, HostTensor>
            {
                ["pixel_values"] = new HostTensor(file.Get(prefix + "pixel_values").Shape, file.ReadAsFloat32(prefix + "pixel_values")),
                ["grid_thw"] = new HostTensor(grid.Shape, grid.DType == DataType.Int64
                    ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(file.GetBytes(prefix + "grid_thw")).ToArray()
                    : file.ReadAsFloat32(prefix + "grid_thw").Select(v => (long)v).ToArray()),
            };
        }
        var result = new Dictionary<string, HostTensor>();
        foreach (var input in graph.Inputs)
        {
            string name = prefix + input.Name;
            if (!file.Contains(name))
                throw new ArgumentException(
                    $"--inputs {spec}: no tensor named '{name}' "
                    + $"(the graph's inputs: {string.Join(", ", graph.Inputs.Select(i => i.Name))})");
            var info = file.Get(name);
            if (info.Shape.Length != input.Shape.Rank || input.Shape.Dims.Where((d, k) => d.IsKnown && d.Value != info.Shape[k]).Any())
                throw new ArgumentException(
                    $"--inputs {spec}: tensor '{name}' is [{string.Join(", ", info.Shape)}], the graph's input is {input.Type}");
            result[input.Name] = new HostTensor(info.Shape, file.ReadAsFloat32(name));
        }
        return result;
    }

    public static IReadOnlyDictionary<string, HostTensor> Random(Graph graph, int seed, int batch)
    {
        var rng = new Random(seed);
        var bindings = graph.Symbols.ToDictionary(s => s, _ => (long)batch);
        return graph.Inputs.ToDictionary(i => i.Name, i =>
        {
            var shape = i.Shape.Evaluate(bindings);
            double elements = shape.Aggregate(1.0, (a, d) => a * d);
            if (elements > Array.MaxLength)
                throw new ArgumentException($"--batch {batch}: input '{i.Name}' would be [{string.Join(", ", shape)}] = "
                    + $"{elements:0.##e+0} values, more than one array holds ({Array.MaxLength:N0})");
            var data = new float[shape.Aggregate(1L, (a, d) => checked(a * d))];
            for (long k = 0; k < data.LongLength; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(shape, data);
        });
    }
}
