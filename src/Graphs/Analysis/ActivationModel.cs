using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Analysis;

/// <summary>How attention's score tensors are assumed to be held.</summary>
public enum AttentionMemory
{
    /// <summary>The graph as written: q·kᵀ [N, heads, S, S], its scaled/biased forms and the softmax are real tensors.</summary>
    Materialized,

    /// <summary>
    /// A fused memory-efficient kernel (flash / SDPA efficient path): the chain MatMul(q, kᵀ) -> elementwise -> Softmax ->
    /// MatMul(·, v) holds no [S, S] tensor, and a dense [S, S] mask that is a graph input is replaced by sequence lengths
    /// (varlen / cu_seqlens). A COMPUTED bias (SAM's decomposed relative positions) stays a tensor, as the original SDPA
    /// code passes it as attn_mask.
    /// </summary>
    MemoryEfficient,
}

/// <summary>One tensor alive at the peak.</summary>
public sealed record LiveTensor(string Name, string Shape, long Bytes);

/// <summary>
/// Result of the liveness simulation: the activation peak (graph inputs included, weights excluded) and where it happens.
/// </summary>
public sealed record ActivationReport(
    AttentionMemory Attention,
    long PeakBytes,
    string PeakNode,
    long InputBytes,
    long OutputBytes,
    long WeightBytes,
    IReadOnlyList<LiveTensor> LiveAtPeak,
    LiveTensor Largest,
    int ScoreChainsElided);

/// <summary>
/// Activation memory from a liveness simulation over the graph's execution order (the node list, which is topological),
/// with ONNX Runtime's CPU buffer rules: graph inputs are held by the caller for the whole run and outputs live to the end;
/// Reshape/Identity outputs alias their input; unary elementwise ops, and binary ones with a constant operand, write in place
/// into an input that dies at that node and has the output's size (two computed operands: a fresh buffer); constant-only
/// subgraphs are folded at session creation (weights, not activations); Conv2d needs an
/// im2col workspace of (Cin/groups)*kH*kW*OH*OW elements while it runs (except 1x1 stride-1 kernels); a fused
/// ScaledDotProductAttention node needs two score tensors of workspace when scores are materialized, none otherwise. The peak is the
/// largest sum of live buffers at any node (the node's inputs, outputs and workspace all count). The allocator's
/// fragmentation and per-thread scratch are not modelled; compare against a measured peak to see how much they add.
/// </summary>
public static class ActivationModel
{
    private sealed class Buffer(string name, string shape, long bytes, int start)
    {
        public string Name { get; } = name;
        public string Shape { get; } = shape;
        public long Bytes { get; } = bytes;
        public int Start { get; } = start;
        public int End { get; set; } = start;
    }

    public static ActivationReport Simulate(Graph graph, IReadOnlyDictionary<string, long> bindings, AttentionMemory attention)
    {
        int n = graph.Nodes.Count;
        int chainCount = 0;
        var elided = attention == AttentionMemory.MemoryEfficient ? ScoreChains(graph, out chainCount) : [];
        var lastUse = new Dictionary<Value, int>();
        for (int i = 0; i < n; i++)
            foreach (var v in graph.Nodes[i].Inputs) lastUse[v] = i;
        foreach (var o in graph.Outputs) lastUse[o] = n;

        long Bytes(Value v) => elided.Contains(v) ? 0 : OpCost.Elements(v.Shape.Evaluate(bindings)) * v.DType.SizeOf();
        string ShapeText(Value v) => "[" + string.Join(", ", v.Shape.Evaluate(bindings)) + "]";

        var buffers = new List<Buffer>();
        var of = new Dictionary<Value, Buffer>();
        var constant = new HashSet<Value>(graph.Initializers.Select(i => i.Value));
        long inputBytes = 0;
        foreach (var input in graph.Inputs)
        {
            var buf = new Buffer(input.Name, ShapeText(input), Bytes(input), 0) { End = n };
            inputBytes += buf.Bytes;
            buffers.Add(buf);
            of[input] = buf;
        }
        var workspace = new long[Math.Max(n, 1)];
        for (int i = 0; i < n; i++)
        {
            var node = graph.Nodes[i];
            if (node.Inputs.Count > 0 && node.Inputs.All(constant.Contains))
            {
                foreach (var o in node.Outputs) constant.Add(o);   // folded by the runtime at load: a weight, not an activation
                continue;
            }
            var cost = OpCost.Of(node, bindings);
            if (node.Op is Conv2d c) workspace[i] = ConvWorkspace(c, node, bindings);
            if (node.Op is ScaledDotProductAttention)
            {
                // Fused attention: a memory-efficient kernel keeps no scores; the materialized model holds what the unfused
                // chain (and the ONNX lowering below opset 23) holds at once: the biased scores and the probabilities.
                if (attention == AttentionMemory.Materialized)
                    workspace[i] = 2 * OpCost.AttentionScores(node.Inputs.Select(x => x.Shape.Evaluate(bindings)).ToArray())
                        * node.Outputs[0].DType.SizeOf();
                else chainCount++;
            }
            foreach (var o in node.Outputs)
            {
                Buffer? reuse = null;
                var first = node.Inputs[0];
                if (cost.Buffer == BufferKind.Alias && of.TryGetValue(first, out var aliased)) reuse = aliased;
                else if (cost.Buffer == BufferKind.InPlace && node.Outputs.Count == 1
                    && (node.Op is not BinaryOp || node.Inputs.Count(x => !constant.Contains(x)) == 1))
                {
                    // Binary ops only with a constant operand (bias, scale: ORT fuses or overwrites); the sum of two computed
                    // tensors gets a fresh buffer, as measured on ORT CPU at released size (SAM's scores + rel-pos bias).
                    // An input dying here, not caller-owned, of the output's size (either operand of a binary op).
                    reuse = node.Inputs.Where(x => of.TryGetValue(x, out var b) && b.End <= i && lastUse.GetValueOrDefault(x) == i
                            && b.Start > 0 && b.Bytes == Bytes(o) && !graph.Inputs.Contains(x))
                        .Select(x => of[x]).FirstOrDefault();
                }
                var buf = reuse ?? new Buffer(o.Name, ShapeText(o), Bytes(o), i);
                if (reuse is null) buffers.Add(buf);
                buf.End = Math.Max(buf.End, lastUse.GetValueOrDefault(o, i));
                of[o] = buf;
            }
            foreach (var x in node.Inputs)
                if (of.TryGetValue(x, out var b)) b.End = Math.Max(b.End, lastUse.GetValueOrDefault(x, i));
        }

        // Sweep: delta[start] += bytes, delta[end + 1] -= bytes.
        var delta = new long[n + 2];
        foreach (var b in buffers)
        {
            delta[b.Start] += b.Bytes;
            delta[Math.Min(b.End, n) + 1] -= b.Bytes;
        }
        long live = 0, peak = 0;
        int peakStep = 0;
        for (int i = 0; i < Math.Max(n, 1); i++)
        {
            live += delta[i];
            if (live + workspace[i] > peak)
            {
                peak = live + workspace[i];
                peakStep = i;
            }
        }
        var atPeak = buffers.Where(b => b.Start <= peakStep && b.End >= peakStep && b.Bytes > 0).OrderByDescending(b => b.Bytes)
            .Select(b => new LiveTensor(b.Name, b.Shape, b.Bytes)).ToList();
        if (workspace[peakStep] > 0) atPeak.Insert(0, new LiveTensor(graph.Nodes[peakStep].Name + " (workspace)", "", workspace[peakStep]));
        var largest = buffers.OrderByDescending(b => b.Bytes).Select(b => new LiveTensor(b.Name, b.Shape, b.Bytes)).FirstOrDefault()
            ?? new LiveTensor("", "", 0);
        long weights = graph.Initializers.Sum(i => OpCost.Elements(i.Value.Shape.ToLongs()) * i.Value.DType.SizeOf());
        long outputs = graph.Outputs.Where(of.ContainsKey).Select(o => of[o]).Distinct().Sum(b => b.Bytes);
        return new ActivationReport(attention, peak, n == 0 ? "" : graph.Nodes[peakStep].Name, inputBytes, outputs, weights,
            atPeak.Take(8).ToArray(), largest, chainCount);
    }

    private static long ConvWorkspace(Conv2d c, Node node, IReadOnlyDictionary<string, long> bindings)
    {
        long[] w = node.Inputs[1].Shape.Evaluate(bindings), y = node.Outputs[0].Shape.Evaluate(bindings);
        bool pointwise = w[2] == 1 && w[3] == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadH == 0 && c.PadW == 0;
        // ORT's CPU Conv unfolds one image (and one group) at a time: [Cin/groups * kH * kW, OH * OW].
        return pointwise ? 0 : w[1] * w[2] * w[3] * y[2] * y[3] * node.Outputs[0].DType.SizeOf();
    }

    /// <summary>Number of attention score chains (Softmax fed by q·kᵀ and read only by MatMuls) in the graph.</summary>
    public static int ScoreChainsCount(Graph graph)
    {
        ScoreChains(graph, out int count);
        return count;
    }

    /// <summary>
    /// The values a fused attention kernel would never write: for each Softmax whose input comes from a MatMul through
    /// elementwise ops of the score's shape and whose output is read only by MatMuls, the scores, their elementwise
    /// forms and the probabilities; plus dense mask graph inputs added into such a chain.
    /// </summary>
    public static HashSet<Value> ScoreChains(Graph graph, out int count)
    {
        var readers = new Dictionary<Value, List<Node>>();
        foreach (var node in graph.Nodes)
            foreach (var v in node.Inputs)
            {
                if (!readers.TryGetValue(v, out var list)) readers[v] = list = [];
                list.Add(node);
            }
        var outputs = new HashSet<Value>(graph.Outputs);
        var result = new HashSet<Value>();
        count = 0;
        // A fused attention node: its dense [S, T] mask, when a graph input, is what a varlen kernel replaces by lengths.
        foreach (var fused in graph.Nodes.Where(x => x.Op is ScaledDotProductAttention && x.Inputs.Count == 4))
        {
            var bias = fused.Inputs[3];
            if (graph.Inputs.Contains(bias) && bias.Shape.Rank >= 2 && bias.Shape[^1] == fused.Inputs[1].Shape[2]
                && bias.Shape[^2] == fused.Inputs[0].Shape[2])
                result.Add(bias);
        }
        foreach (var softmax in graph.Nodes.Where(x => x.Op is Softmax))
        {
            var probs = softmax.Outputs[0];
            if (outputs.Contains(probs) || !readers.TryGetValue(probs, out var consumers) || !consumers.All(c => c.Op is MatMul)) continue;
            var chain = new List<Value> { probs };
            var masks = new List<Value>();
            var shape = probs.Shape;
            var cur = softmax.Inputs[0];
            bool ok = false;
            while (cur.Producer is { } p && !outputs.Contains(cur) && cur.Shape.Equals(shape) && readers[cur].Count == 1)
            {
                chain.Add(cur);
                if (p.Op is MatMul) { ok = true; break; }
                if (p.Op is not (Add or Sub or Mul or Div)) break;
                var onChain = p.Inputs.FirstOrDefault(x => x.Shape.Equals(shape) && x.Producer is not null && x.Producer.Op is not Reshape
                    || x.Producer?.Op is MatMul);
                if (onChain is null) break;
                masks.AddRange(p.Inputs.Where(x => x != onChain && graph.Inputs.Contains(x) && x.Shape.Rank >= 2
                    && x.Shape[^1] == shape[^1] && x.Shape[^2] == shape[^2]));
                cur = onChain;
            }
            if (!ok) continue;
            count++;
            result.UnionWith(chain);
            result.UnionWith(masks);
        }
        return result;
    }
}
