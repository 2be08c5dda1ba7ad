using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Numerics;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// SAM's decomposed relative positions (MViTv2), added to the attention scores as a bias computed from q.
/// The gathered tables R[q, k] = rel_pos[q - k + size - 1] (after the checkpoint table is linearly resized to
/// 2*size-1 rows when it was trained for another grid) depend only on weights and the exported grid, so they are
/// export-time constants stored transposed for the matmul: [size, head_dim, size].
/// Reference: DeepSeek-OCR deepencoder/sam_vary_sdpa.py get_rel_pos / add_decomposed_rel_pos.
/// </summary>
public static class RelPos
{
    /// <summary>rel_pos [L, d] -> R^T [size(q), d, size(k)] for equal q and k sizes.</summary>
    public static Value GatheredTable(GraphBuilder b, Value relPos, int size, string name)
    {
        long length = relPos.Shape[0].Value, d = relPos.Shape[1].Value;
        int maxDist = 2 * size - 1;
        string what = length == maxDist ? $"rel-pos gather {size}" : $"rel-pos linear {length} -> {maxDist}, gather {size}";
        return b.Derived(name, [size, d, size], what, [relPos], src => Gather(src[0], (int)length, (int)d, size));
    }

    internal static float[] Gather(float[] table, int length, int d, int size)
    {
        int maxDist = 2 * size - 1;
        float[] rows = table;
        if (length != maxDist)
        {
            // F.interpolate(rel_pos.reshape(1, L, d).permute(0, 2, 1), size=maxDist, mode="linear"): d channels of length L.
            var channels = new float[d * length];
            for (int l = 0; l < length; l++)
                for (int c = 0; c < d; c++)
                    channels[c * length + l] = table[l * d + c];
            var resized = Resample.Resize1D(channels, d, length, maxDist, ResampleSpec.TorchLinear);
            rows = new float[maxDist * d];
            for (int l = 0; l < maxDist; l++)
                for (int c = 0; c < d; c++)
                    rows[l * d + c] = resized[c * maxDist + l];
        }
        var result = new float[size * d * size];
        for (int q = 0; q < size; q++)
            for (int k = 0; k < size; k++)
            {
                int row = q - k + size - 1;
                for (int c = 0; c < d; c++)
                    result[(q * d + c) * size + k] = rows[row * d + c];
            }
        return result;
    }

    /// <summary>
    /// Bias for scores [N, heads, h*w, h*w] from q [N, heads, h*w, d]:
    /// bias[.., (i, j), (ki, kj)] = q(i,j)·Rh[i, ki] + q(i,j)·Rw[j, kj].
    /// </summary>
    public static Value Bias(GraphBuilder b, Value q, Value rhT, Value rwT, long h, long w)
    {
        Dim n = q.Shape[0], heads = q.Shape[1];
        long d = q.Shape[3].Value;
        var rq = b.Reshape(q, n, heads, h, w, d);                                    // [N, h', H, W, d]
        var relH = b.MatMul(rq, rhT);                                               // [N, h', H, W, kH]  (batch dim H broadcasts with R's)
        var rqT = b.Transpose(rq, 0, 1, 3, 2, 4);                                   // [N, h', W, H, d]
        var relW = b.Transpose(b.MatMul(rqT, rwT), 0, 1, 3, 2, 4);                  // [N, h', H, W, kW]
        var sum = b.Add(b.Reshape(relH, n, heads, h, w, h, 1), b.Reshape(relW, n, heads, h, w, 1, w)); // [N, h', H, W, kH, kW]
        return b.Reshape(sum, n, heads, h * w, h * w);
    }
}
