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
    public static IReadOnlyDictionary<string, HostTensor> Load(string spec, Graph graph, int seed, int batch, Architecture? arch = null, System.Text.Json.JsonElement? config = null)
    {
        if (batch < 1) throw new ArgumentException($"--batch {batch}: must be at least 1");
        if (spec == "random") return arch?.SampleInputs(config, seed, batch) ?? Random(graph, seed, batch);
        if (!File.Exists(spec)) throw new FileNotFoundException($"--inputs {spec}: file not found (give 'random' or a .safetensors file)");
        using var file = SafetensorsFile.Open(spec);
        if (file.Contains("grid_thw"))
        {
            foreach (var name in new[] { "pixel_values", "grid_thw" })
                if (!file.Contains(name)) throw new ArgumentException($"--inputs {spec}: a processor batch needs pixel_values and grid_thw; no tensor named '{name}'");
            var grid = file.Get("grid_thw");
            if (grid.DType.IsFloat()) throw new ArgumentException($"--inputs {spec}: grid_thw must be an integer tensor, not {grid.DType.ShortName()}");
            return new Dictionary<string, HostTensor>
            {
                ["pixel_values"] = new HostTensor(file.Get("pixel_values").Shape, file.ReadAsFloat32("pixel_values")),
                ["grid_thw"] = new HostTensor(grid.Shape, grid.DType == DataType.Int64
                    ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(file.GetBytes("grid_thw")).ToArray()
                    : file.ReadAsFloat32("grid_thw").Select(v => (long)v).ToArray()),
            };
        }
        var result = new Dictionary<string, HostTensor>();
        foreach (var input in graph.Inputs)
        {
            if (!file.Contains(input.Name))
                throw new ArgumentException($"--inputs {spec}: no tensor named '{input.Name}' (the graph's inputs: {string.Join(", ", graph.Inputs.Select(i => i.Name))})");
            var info = file.Get(input.Name);
            result[input.Name] = new HostTensor(info.Shape, file.ReadAsFloat32(input.Name));
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
            var data = new float[shape.Aggregate(1L, (a, d) => checked(a * d))];
            for (long k = 0; k < data.LongLength; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(shape, data);
        });
    }
}
