using Microsoft.ML.OnnxRuntime;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Onnx;

/// <summary>Inputs converted to ONNX Runtime values once, for repeated timed runs (see <see cref="OrtRunner.RunPrepared"/>).</summary>
public sealed class PreparedInputs : IDisposable
{
    internal PreparedInputs(IReadOnlyList<string> names, IReadOnlyList<OrtValue> values, IReadOnlyList<string> outputs)
    {
        Names = names;
        Values = values;
        OutputNames = outputs;
    }

    internal IReadOnlyList<string> Names { get; }

    internal IReadOnlyList<OrtValue> Values { get; }

    internal IReadOnlyList<string> OutputNames { get; }

    public void Dispose()
    {
        foreach (var v in Values) v.Dispose();
    }
}

public sealed partial class OrtRunner
{
    /// <summary>
    /// Checks and converts inputs once (same checks as <see cref="Run"/>), so that a benchmark times only the session's
    /// work: <see cref="RunPrepared"/> computes every output and releases it without copying it back.
    /// </summary>
    public PreparedInputs Prepare(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        var (names, values) = ToOrtInputs(inputs);
        try
        {
            return new PreparedInputs(names, values, _session.OutputMetadata.Keys.ToArray());
        }
        catch
        {
            foreach (var v in values) v.Dispose();
            throw;
        }
    }

    /// <summary>One inference over prepared inputs; outputs are computed and released.</summary>
    public void RunPrepared(PreparedInputs prepared)
    {
        using var run = new RunOptions();
        using var results = _session.Run(run, prepared.Names, prepared.Values, prepared.OutputNames);
    }

    /// <summary>Symbolic dimension names of each input (empty string for a fixed dimension), as the ONNX file declares them.</summary>
    public IReadOnlyList<(string Name, string[] Symbols)> InputSymbols =>
        _session.InputMetadata.Select(kv => (kv.Key, kv.Value.SymbolicDimensions.Select(s => s ?? "").ToArray())).ToArray();
}
