using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen25Vl;

/// <summary>
/// The host-computed index inputs of one Qwen2.5-VL frame of h x w patches (see <see cref="Qwen25VlWindows"/>); every
/// array is linear in the patch count N = h*w (M = N / merge² tokens; W windows of S slots, W*S &lt; N + S*W).
/// </summary>
/// <param name="Patches">N = h*w, the frame's patch rows.</param>
/// <param name="Windows">W, the non-empty windows of the frame.</param>
/// <param name="Slots">S = (window_size / patch_size)², the patch slots of every padded window.</param>
/// <param name="WindowIndex">[M] the original's window_index: token j of the window order is processor token WindowIndex[j].</param>
/// <param name="WindowOrder">
/// [N] patch rows in window order: row j is processor row WindowOrder[j] (a unit's patches kept together).
/// </param>
/// <param name="WindowSlots">[W*S] for each padded window slot the window-order row it holds (padding: row 0, masked).</param>
/// <param name="WindowRows">[N] for each window-order row its slot in the padded layout (the inverse of WindowSlots).</param>
/// <param name="WindowBias">[W*S] additive key bias per slot: 0 for a real patch, <see cref="Qwen25VlWindows.Masked"/> for padding.</param>
/// <param name="TokenOrder">[M] argsort(WindowIndex): processor token i is window-order token TokenOrder[i].</param>
/// <param name="WindowLengths">Patches per window, in window order (the steps of the original's cu_window_seqlens).</param>
public sealed record Qwen25VlFrameWindows(
    int Patches, int Windows, int Slots,
    long[] WindowIndex, long[] WindowOrder, long[] WindowSlots, long[] WindowRows, float[] WindowBias, long[] TokenOrder,
    int[] WindowLengths);

/// <summary>
/// Qwen2_5_VisionTransformerPretrainedModel.get_window_index for one frame, and the padded-window layout the graph uses.
/// <para>
/// The original cuts each frame's grid of merge units (h/2 x w/2) into windows of window_size/merge/patch units a side,
/// padding the grid at the bottom and right with pad = ws - n % ws: a grid that is an exact multiple still gets a whole
/// window of padding, whose windows are empty and vanish (unique_consecutive of cu_window_seqlens); windows at the
/// right and bottom edges are smaller. The sequence is reordered to window order (windows row-major, units row-major
/// inside, a unit's merge² patches together), window blocks attend inside each window (cu_window_seqlens), full blocks
/// inside each frame (cu_seqlens), and the merger's output is put back in processor order with argsort(window_index).
/// </para>
/// <para>
/// The graph instead gathers the window-order rows into W windows of a FIXED S = (window_size/patch)² slots, masks the
/// empty slots of edge windows with a per-window key bias [W, 1, 1, S], and attends batched over windows; the result is
/// gathered back to window order. Nothing is quadratic in the token count.
/// </para>
/// </summary>
public static class Qwen25VlWindows
{
    /// <summary>
    /// The additive key bias of an empty slot: finite in f32 and bf16, its exp underflows to exactly 0, and every
    /// window holds at least one real patch, so no softmax row is fully masked (f16 rounds it to -inf: still safe).
    /// </summary>
    public const float Masked = -1e30f;

    /// <summary>The windows of one frame of h x w patches (h, w multiples of the merge size).</summary>
    public static Qwen25VlFrameWindows Frame(int h, int w, int windowUnits, int mergeSize)
    {
        if (mergeSize < 1 || windowUnits < 1)
            throw new GraphException($"window of {windowUnits} units, merge size {mergeSize}: must be positive");
        if (h < 1 || w < 1 || h % mergeSize != 0 || w % mergeSize != 0)
            throw new GraphException($"grid [{h}, {w}]: sizes must be positive and h, w multiples of the merge size {mergeSize}");
        int unit = mergeSize * mergeSize, lh = h / mergeSize, lw = w / mergeSize, wm = windowUnits;
        int padH = wm - lh % wm, padW = wm - lw % wm;          // the original's padding, a whole window for exact multiples
        int nwh = (lh + padH) / wm, nww = (lw + padW) / wm;
        var index = new List<long>(lh * lw);
        var lengths = new List<int>();
        for (int wy = 0; wy < nwh; wy++)
            for (int wx = 0; wx < nww; wx++)
            {
                int count = 0;
                for (int iy = 0; iy < wm; iy++)
                    for (int ix = 0; ix < wm; ix++)
                    {
                        int uy = wy * wm + iy, ux = wx * wm + ix;
                        if (uy >= lh || ux >= lw) continue;     // a padded (-100) entry of index_padded
                        index.Add((long)uy * lw + ux);
                        count++;
                    }
                if (count > 0) lengths.Add(count * unit);        // empty windows: repeated cu entries, dropped
            }

        int n = h * w, m = lh * lw, windows = lengths.Count, slots = wm * wm * unit;
        var order = new long[n];
        for (int j = 0; j < m; j++)
            for (int k = 0; k < unit; k++)
                order[j * unit + k] = index[j] * unit + k;
        var slotRows = new long[(long)windows * slots];
        var bias = new float[(long)windows * slots];
        var rows = new long[n];
        int start = 0;
        for (int win = 0; win < windows; win++)
        {
            for (int s = 0; s < slots; s++)
            {
                long slot = (long)win * slots + s;
                bool real = s < lengths[win];
                slotRows[slot] = real ? start + s : 0;
                bias[slot] = real ? 0f : Masked;
                if (real) rows[start + s] = slot;
            }
            start += lengths[win];
        }
        var tokenOrder = new long[m];
        for (int j = 0; j < m; j++) tokenOrder[index[j]] = j;
        return new Qwen25VlFrameWindows(n, windows, slots, [.. index], order, slotRows, rows, bias, tokenOrder, [.. lengths]);
    }
}
