using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>One packed image or video of a Qwen2-VL batch, in patches: frames (temporal patches), rows, columns.</summary>
public readonly record struct GridThw(int T, int H, int W)
{
    /// <summary>Patches of this image or video: T*H*W.</summary>
    public int Patches => T * H * W;

    /// <summary>Patches of one frame: H*W.</summary>
    public int FramePatches => H * W;
}

/// <summary>The rotary tables of one frame of h x w patches: cos and sin [h*w, head_dim] (row-major, packing order).</summary>
public sealed record Qwen2VlHostInputs(int Patches, int HeadDim, float[] Cos, float[] Sin);

/// <summary>
/// What the reference computes from grid_thw inside its forward (Qwen2VisionTransformerPretrainedModel.rot_pos_emb and
/// cu_seqlens). grid_thw is data, not shape, so the exported graph receives the rotary tables as inputs instead:
/// <list type="bullet">
/// <item>2D rotary positions: patch p of a frame sits at (hpos, wpos) in the frame's patch grid, but patches are packed
/// in merge-window order (windows of merge x merge patches row-major, patches row-major inside a window), so that the
/// PatchMerger can fold 4 consecutive rows. Each head's first half rotates by hpos, the second half by wpos, with
/// head_dim/4 frequencies inv_freq[j] = 1 / theta^(4j / head_dim); the angle row [hpos*f, wpos*f] (head_dim/2) is
/// duplicated to head_dim, as rotate_half expects. Every frame restarts at (0, 0), so one table serves all frames.</item>
/// <item>Attention: eager attention runs separately on each cu_seqlens chunk, and the chunks are the FRAMES (h*w patches
/// each, t of them per image or video). The graph therefore takes the frames of ONE image or video on its batch axis
/// ([F, 4*M, ...]) and attends within each batch row without any mask: nothing grows with the square of the tokens,
/// and a fused / memory-efficient attention kernel sees plain batched attention.</item>
/// </list>
/// </summary>
public static class Qwen2VlPositions
{
    /// <summary>Parses grid_thw [images, 3] (int64 data) into grids.</summary>
    public static IReadOnlyList<GridThw> ParseGrid(HostTensor gridThw)
    {
        if (gridThw.Longs is not { } v || gridThw.Shape.Length != 2 || gridThw.Shape[1] != 3 || gridThw.Shape[0] < 1)
            throw new GraphException($"grid_thw must be integer [images, 3], got {gridThw.DType.ShortName()}{gridThw.ShapeText}");
        var grids = new GridThw[gridThw.Shape[0]];
        for (int i = 0; i < grids.Length; i++)
        {
            long t = v[3 * i], h = v[3 * i + 1], w = v[3 * i + 2];
            if (t < 1 || h < 1 || w < 1 || t * h * w > int.MaxValue)
                throw new GraphException($"grid_thw row {i} [{t}, {h}, {w}] must hold positive sizes");
            grids[i] = new GridThw((int)t, (int)h, (int)w);
        }
        return grids;
    }

    /// <summary>
    /// cos, sin [h*w, head_dim] of one frame. h and w must be multiples of <paramref name="mergeSize"/> (the processor
    /// resizes images to multiples of patch*merge).
    /// </summary>
    public static Qwen2VlHostInputs Frame(int h, int w, int headDim, double theta, int mergeSize)
    {
        if (headDim <= 0 || headDim % 4 != 0) throw new GraphException($"head_dim {headDim} must be a positive multiple of 4");
        if (mergeSize < 1) throw new GraphException($"spatial merge size {mergeSize} must be positive");
        if (h < 1 || w < 1 || h % mergeSize != 0 || w % mergeSize != 0)
            throw new GraphException($"grid [{h}, {w}]: sizes must be positive and h, w multiples of the merge size {mergeSize}");
        if ((long)h * w * headDim > int.MaxValue) throw new GraphException($"frame grid [{h}, {w}]: too many patches");
        int quarter = headDim / 4, half = headDim / 2;

        // inv_freq as the reference computes it, in float32: 1 / theta^(arange(0, dim, 2) / dim) with dim = head_dim/2.
        var invFreq = new float[quarter];
        for (int j = 0; j < quarter; j++)
            invFreq[j] = 1f / (float)Math.Pow(theta, (float)(2 * j) / half);

        int n = h * w;
        var cos = new float[(long)n * headDim];
        var sin = new float[(long)n * headDim];
        int row = 0;
        for (int bh = 0; bh < h / mergeSize; bh++)
            for (int bw = 0; bw < w / mergeSize; bw++)
                for (int ih = 0; ih < mergeSize; ih++)
                    for (int iw = 0; iw < mergeSize; iw++, row++)
                    {
                        int hpos = bh * mergeSize + ih, wpos = bw * mergeSize + iw;
                        long o = (long)row * headDim;
                        for (int j = 0; j < quarter; j++)
                        {
                            // float32 products, as torch.outer(seq, inv_freq); cos/sin of that float angle.
                            float ah = hpos * invFreq[j], aw = wpos * invFreq[j];
                            cos[o + j] = cos[o + half + j] = (float)Math.Cos(ah);
                            sin[o + j] = sin[o + half + j] = (float)Math.Sin(ah);
                            cos[o + quarter + j] = cos[o + half + quarter + j] = (float)Math.Cos(aw);
                            sin[o + quarter + j] = sin[o + half + quarter + j] = (float)Math.Sin(aw);
                        }
                    }
        return new Qwen2VlHostInputs(n, headDim, cos, sin);
    }
}
