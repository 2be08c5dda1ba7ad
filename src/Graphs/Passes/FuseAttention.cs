using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Passes;

/// <summary>
/// Attention fusion (ORT's transformer optimizer / onnxscript's SDPA rule): the decomposed
/// <c>MatMul(Softmax(MatMul(q, Transpose(k, [0,1,3,2])) * c [+ bias]), v)</c> that Blocks/Attention.cs builds becomes one
/// <see cref="ScaledDotProductAttention"/>(scale c) with the additive bias (SAM's rel-pos terms, already summed into one
/// tensor by Blocks/RelPos.cs; a block mask) as its optional input. Matched only where every intermediate (scores,
/// scaled scores, biased scores, probabilities) has one reader and is neither output nor trace.
/// The back-ends then choose: TorchSharp runs scaled_dot_product_attention with attn_mask; ONNX gets Attention-23 where
/// the target's opset allows, the decomposed form below.
/// </summary>
public sealed class FuseAttention : IGraphPass
{
    public string Name => "fuse-attention";

    public bool Run(Graph g)
    {
        bool changed = false;
        var uses = g.UseCounts();
        foreach (var n in g.Nodes.ToArray())
        {
            if (n.Op is not MatMul || Match(g, n, uses) is not { } m) continue;
            IReadOnlyList<Value> inputs = m.Bias is null ? [m.Q, m.K, n.Inputs[1]] : [m.Q, m.K, n.Inputs[1], m.Bias];
            Value fused;
            try
            {
                fused = g.InsertNodeBefore(n, ScopeOf(n.Name) + "attention", new ScaledDotProductAttention(m.Scale), inputs)[0];
            }
            catch (GraphException)
            {
                continue;   // shapes outside the fused op's contract (e.g. a bias that enlarges the scores): keep the plain ops
            }
            g.ReplaceAllUses(n.Outputs[0], fused);
            foreach (var dead in new[] { n }.Concat(m.Chain))
                g.RemoveNode(dead);
            if (m.KTranspose.Outputs[0] is var kt && g.Uses(kt).Count == 0 && !g.IsObserved(kt)) g.RemoveNode(m.KTranspose);
            uses = g.UseCounts();
            changed = true;
        }
        return changed;
    }

    private sealed record Found(Value Q, Value K, double Scale, Value? Bias, Node KTranspose, IReadOnlyList<Node> Chain);

    /// <summary>The pattern ending at the probabilities x v MatMul <paramref name="pv"/>, or null.</summary>
    private static Found? Match(Graph g, Node pv, Dictionary<Value, int> uses)
    {
        if (g.Outputs.Contains(pv.Outputs[0]) || pv.Outputs[0].Shape.Rank != 4) return null;
        bool Private(Value v) => uses.GetValueOrDefault(v) == 1 && !g.IsObserved(v);
        var probs = pv.Inputs[0];
        if (probs.Producer is not { Op: Softmax sm } softmax || !Private(probs) || probs.Shape.Axis(sm.Axis) != 3) return null;
        var chain = new List<Node> { softmax };   // nodes to remove, readers before producers
        var scores = softmax.Inputs[0];
        Value? bias = null;
        if (scores.Producer is { Op: Add } add && Private(scores))
        {
            int s = add.Inputs[0].Producer is { Op: Mul or MatMul } ? 0 : 1;
            if (!add.Inputs[s].Shape.Equals(scores.Shape)) return null;
            bias = add.Inputs[1 - s];
            chain.Add(add);
            scores = add.Inputs[s];
        }
        double scale = 1;
        if (scores.Producer is { Op: Mul } mul && Private(scores))
        {
            int c = ScalarOf(mul.Inputs[1]) is not null ? 1 : ScalarOf(mul.Inputs[0]) is not null ? 0 : -1;
            if (c < 0 || !mul.Inputs[1 - c].Shape.Equals(scores.Shape)) return null;
            scale = ScalarOf(mul.Inputs[c])!.Value;
            chain.Add(mul);
            scores = mul.Inputs[1 - c];
        }
        if (scores.Producer is not { Op: MatMul } qk || !Private(scores)) return null;
        chain.Add(qk);
        if (qk.Inputs[1].Producer is not { Op: Transpose t } kT || !t.Perm.SequenceEqual([0, 1, 3, 2])) return null;
        if (qk.Inputs[0].Shape.Rank != 4 || pv.Inputs[1].Shape.Rank != 4) return null;
        return scale > 0 ? new Found(qk.Inputs[0], kT.Inputs[0], scale, bias, kT, chain) : null;
    }

    /// <summary>The value of a one-element float literal (rank 0 or all ones), else null.</summary>
    private static float? ScalarOf(Value v) =>
        v.Initializer?.Data is LiteralData { Floats: [var f] } && v.Shape.IsFullyKnown && v.Shape.ElementCount.Value == 1 ? f : null;

    private static string ScopeOf(string name) => name.LastIndexOf('.') is int i and >= 0 ? name[..(i + 1)] : "";
}
