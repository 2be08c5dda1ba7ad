using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Passes;

/// <summary>
/// Query-chunked attention (the memory-efficient decomposition of FlashAttention/xFormers' "chunked queries", in standard
/// ops): a fused attention whose score tensor [N, h, S, T] would exceed <see cref="MaxScoreElements"/> per batch element
/// becomes Concat over query blocks of attention(q[:, :, s0:s1], k, v, bias[:, :, s0:s1]) (axis 2). Softmax is per query
/// row, so every block is exact; only one block's scores [N, h, s1 - s0, T] need to live at a time. For SAM's global
/// attention (12 heads, 4096 x 4096) that is 12 blocks of ~64 MiB instead of 805 MiB score buffers.
/// The bias is sliced at its source when it is SAM's decomposed rel-pos sum (Reshape of relH [.., H, W, kH, 1] + relW
/// [.., H, W, 1, kW], see Blocks/RelPos.cs): each block builds only its rows, in whole rows of the H x W query grid, so
/// the [N, h, S, T] bias is never materialized either. Any other bias is sliced along its query axis (or kept when it
/// broadcasts there). For runtimes without a memory-efficient attention kernel: the `onnx` target below opset 23 runs it
/// (src/Converters/Targets); Attention-23 consumers get the unchunked op.
/// </summary>
public sealed class ChunkAttention(long maxScoreElements = ChunkAttention.DefaultMaxScoreElements) : IGraphPass
{
    /// <summary>2^24 f32 scores (64 MiB) per block and batch element by default.</summary>
    public const long DefaultMaxScoreElements = 1L << 24;

    public string Name => "chunk-attention";

    /// <summary>Largest score block (h x rows x T elements) left whole.</summary>
    public long MaxScoreElements { get; } =
        maxScoreElements > 0 ? maxScoreElements : throw new ArgumentOutOfRangeException(nameof(maxScoreElements));

    public bool Run(Graph g)
    {
        bool changed = false;
        foreach (var n in g.Nodes.Where(n => n.Op is ScaledDotProductAttention).ToArray())
            changed |= TryChunk(g, n);
        return changed;
    }

    private bool TryChunk(Graph g, Node n)
    {
        var (q, k, v) = (n.Inputs[0], n.Inputs[1], n.Inputs[2]);
        var bias = n.Inputs.Count > 3 ? n.Inputs[3] : null;
        if (g.IsObserved(n.Outputs[0]) || !q.Shape[1].IsKnown || !q.Shape[2].IsKnown || !k.Shape[2].IsKnown) return false;
        long heads = q.Shape[1].Value, s = q.Shape[2].Value, t = k.Shape[2].Value;
        if (heads * s * t <= MaxScoreElements) return false;
        var rel = bias is null ? null : RelPosSum(bias, s, t);
        // Query rows per block: a multiple of the grid width when the rel-pos sum is sliced at its source.
        long unit = rel?.Width ?? 1;
        long perBlock = Math.Max(unit, MaxScoreElements / (heads * t) / unit * unit);
        if (perBlock >= s) return false;
        int biasAxis = bias is null ? -1 : bias.Shape.Rank - 2;
        if (bias is not null && rel is null && biasAxis >= 0 && !(bias.Shape[biasAxis] == Dim.Of(1) || bias.Shape[biasAxis] == Dim.Of(s)))
            return false;

        var op = (ScaledDotProductAttention)n.Op;
        var blocks = new List<Value>();
        for (long s0 = 0; s0 < s; s0 += perBlock)
        {
            long s1 = Math.Min(s, s0 + perBlock);
            string at = $"{n.Name}.chunk{blocks.Count}";
            var qc = Insert(g, n, at + ".q", new Slice(2, s0, s1), q);
            Value? bc = null;
            if (rel is not null) bc = RelPosBlock(g, n, at, rel, s0 / unit, s1 / unit, bias!);
            else if (bias is not null)
                bc = biasAxis < 0 || bias.Shape[biasAxis] == Dim.Of(1)
                    ? bias
                    : Insert(g, n, at + ".bias", new Slice(biasAxis, s0, s1), bias);
            blocks.Add(bc is null ? Insert(g, n, at, op, qc, k, v) : Insert(g, n, at, op, qc, k, v, bc));
        }
        var joined = Insert(g, n, n.Name + ".chunks", new Concat(2), [.. blocks]);
        g.ReplaceAllUses(n.Outputs[0], joined);
        g.RemoveNode(n);
        return true;
    }

    private static Value Insert(Graph g, Node before, string name, Op op, params Value[] inputs) =>
        g.InsertNodeBefore(before, name, op, inputs)[0];

    /// <summary>bias = Reshape(Add(a, b)) with the sum [N, h, H, W, kH, kW], H*W = S, kH*kW = T (SAM's rel-pos terms).</summary>
    private sealed record RelPos(Value A, Value B, Shape Target, long Width);

    private static RelPos? RelPosSum(Value bias, long s, long t)
    {
        if (bias.Producer is not { Op: Reshape reshape } r || reshape.Target.Rank != 4 || bias.Shape.Rank != 4) return null;
        var sum = r.Inputs[0];
        if (sum.Producer is not { Op: Add } add || sum.Shape.Rank != 6 || !sum.Shape.Dims.Skip(2).All(d => d.IsKnown)) return null;
        long h = sum.Shape[2].Value, w = sum.Shape[3].Value;
        if (h * w != s || sum.Shape[4].Value * sum.Shape[5].Value != t || bias.Shape[2] != Dim.Of(s)) return null;
        var (a, b) = (add.Inputs[0], add.Inputs[1]);
        // Both terms rank 6 with the query-row axis 2 either whole (H) or broadcast (1).
        foreach (var x in new[] { a, b })
            if (x.Shape.Rank != 6 || !(x.Shape[2] == Dim.Of(h) || x.Shape[2] == Dim.Of(1))) return null;
        return new RelPos(a, b, reshape.Target, w);
    }

    /// <summary>Rows [r0, r1) of the query grid: Reshape(Add(a[:, :, r0:r1], b[:, :, r0:r1])) -> [N, h, (r1 - r0) * W, T].</summary>
    private static Value RelPosBlock(Graph g, Node before, string at, RelPos rel, long r0, long r1, Value bias)
    {
        Value Rows(Value x, string what) => x.Shape[2] == Dim.Of(1) ? x : Insert(g, before, $"{at}.{what}", new Slice(2, r0, r1), x);
        var sum = Insert(g, before, at + ".bias_sum", new Add(), Rows(rel.A, "rel_h"), Rows(rel.B, "rel_w"));
        var target = new Shape(rel.Target[0], rel.Target[1], Dim.Of((r1 - r0) * rel.Width), rel.Target[3]);
        return Insert(g, before, at + ".bias", new Reshape(target), sum);
    }
}
