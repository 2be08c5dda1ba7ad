using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Parity;

/// <summary>Inputs for parity runs without goldens: seeded random tensors, or tensors from a safetensors file.</summary>
public static class InputSets
{
    /// <summary>"random" (uniform in [-1, 1], the normalised pixel range; every symbolic axis = batch) or a file path.</summary>
    public static IReadOnlyDictionary<string, HostTensor> Load(string spec, Graph graph, int seed, int batch)
    {
        if (batch < 1) throw new ArgumentException($"--batch {batch}: must be at least 1");
        if (spec == "random") return Random(graph, seed, batch);
        if (!File.Exists(spec)) throw new FileNotFoundException($"--inputs {spec}: file not found (give 'random' or a .safetensors file)");
        using var file = SafetensorsFile.Open(spec);
        var result = new Dictionary<string, HostTensor>();
        foreach (var input in graph.Inputs)
        {
            if (!file.Contains(input.Name))
                throw new ArgumentException($"--inputs {spec}: no tensor named '{input.Name}' (the graph's inputs: {string.Join(", ", graph.Inputs.Select(i => i.Name))})");
            var info = file.Get(input.Name);
            if (info.Shape.Length != input.Shape.Rank || input.Shape.Dims.Where((d, k) => d.IsKnown && d.Value != info.Shape[k]).Any())
                throw new ArgumentException($"--inputs {spec}: tensor '{input.Name}' is [{string.Join(", ", info.Shape)}], the graph's input is {input.Type}");
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
            double elements = shape.Aggregate(1.0, (a, d) => a * d);
            if (elements > Array.MaxLength)
                throw new ArgumentException($"--batch {batch}: input '{i.Name}' would be [{string.Join(", ", shape)}] = {elements:0.##e+0} values, more than one array holds ({Array.MaxLength:N0})");
            var data = new float[shape.Aggregate(1L, (a, d) => checked(a * d))];
            for (long k = 0; k < data.LongLength; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            return new HostTensor(shape, data);
        });
    }
}
