using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Torch;

/// <summary>
/// Checks run inputs against a graph in .NET, before any TorchSharp call: libtorch reports a bad shape by terminating
/// the process, so every user mistake must be caught here, as an <see cref="ArgumentException"/> naming the input.
/// </summary>
internal static class TorchEvalValidation
{
    /// <summary>
    /// Checks names, kinds (float vs integer data), ranks and sizes of <paramref name="inputs"/> and returns the symbol
    /// bindings they imply: an input dim <c>Factor*S</c> given as n binds S = n / Factor (exact, at least 1), and every
    /// other use of S must agree. Known dims must match exactly.
    /// </summary>
    internal static Dictionary<string, long> BindInputs(Graph graph, IReadOnlyDictionary<string, HostTensor> inputs)
    {
        foreach (var name in inputs.Keys)
            if (!graph.Inputs.Any(i => i.Name == name))
                throw new ArgumentException($"unknown input '{name}'; graph {graph.Name} takes {Describe(graph)}", nameof(inputs));

        var bindings = new Dictionary<string, long>(StringComparer.Ordinal);
        // Where each symbol was bound, for the message when a later input disagrees.
        var boundBy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs)
        {
            if (!inputs.TryGetValue(input.Name, out var given) || given is null)
                throw new ArgumentException($"input '{input.Name}' is missing: expected {input.Type}", nameof(inputs));
            string Mismatch(string why) =>
                $"input '{input.Name}': expected {input.Type}, given {given.DType.ShortName()}{given.ShapeText} ({why})";

            bool wantFloat = input.DType.IsFloat();
            // HostTensor carries any float precision as f32 data; the evaluator converts to the graph's type.
            if (wantFloat && given.Floats is null)
                throw new ArgumentException(Mismatch("floating-point data needed"), nameof(inputs));
            if (!wantFloat && given.Longs is null)
                throw new ArgumentException(Mismatch("integer data needed"), nameof(inputs));
            if (given.Shape.Length != input.Shape.Rank)
                throw new ArgumentException(Mismatch($"rank {given.Shape.Length} instead of {input.Shape.Rank}"), nameof(inputs));

            for (int axis = 0; axis < input.Shape.Rank; axis++)
            {
                Dim want = input.Shape[axis];
                long n = given.Shape[axis];
                if (want.IsKnown)
                {
                    if (n != want.Value)
                        throw new ArgumentException(Mismatch($"axis {axis} is {n}, not {want.Value}"), nameof(inputs));
                    continue;
                }
                string sym = want.Symbol!;
                if (n < want.Factor || n % want.Factor != 0)
                    throw new ArgumentException(
                        Mismatch($"axis {axis} is {n}, not a positive multiple of {want.Factor} for {want}"), nameof(inputs));
                long value = n / want.Factor;
                if (bindings.TryGetValue(sym, out long bound) && bound != value)
                    throw new ArgumentException(
                        Mismatch($"axis {axis} gives {sym} = {value}, but {boundBy[sym]} gave {sym} = {bound}"), nameof(inputs));
                bindings[sym] = value;
                boundBy.TryAdd(sym, $"input '{input.Name}'");
            }
        }
        return bindings;
    }

    private static string Describe(Graph graph) =>
        graph.Inputs.Count == 0 ? "no inputs" : string.Join(", ", graph.Inputs.Select(i => $"'{i.Name}' {i.Type}"));
}
