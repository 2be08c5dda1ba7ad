using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Numerics;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// Position tables resized for the exported grid. PyTorch's antialiased bicubic has no exact ONNX Resize
/// equivalent, so the resized table is computed at export time (from the checkpoint's table) and stored as a
/// constant of the exported graph; both back-ends then read the same numbers.
/// </summary>
public static class PositionTables
{
    /// <summary>
    /// A square [.., g, g, C] channel-last grid table resized to [.., t, t, C] with
    /// F.interpolate(mode="bicubic", antialias=True, align_corners=False) (SAM pos_embed, CLIP grid part).
    /// Returns the table itself when t == g.
    /// </summary>
    public static Value ResizeGrid(GraphBuilder b, Value table, int grid, int target, long channels, string name)
    {
        if (grid == target) return table;
        var outShape = table.Shape.ToLongs();
        outShape[^3] = target;
        outShape[^2] = target;
        return b.Derived(name, outShape, $"bicubic antialias {grid}x{grid} -> {target}x{target}", [table],
            src => ResizeChannelsLast(src[0], grid, target, channels));
    }

    /// <summary>
    /// A table [.., 1 + g², C] (class row first: CLIP's [1 + g², C], InternViT's [1, 1 + g², C]) -> [.., 1 + t², C]: the
    /// class row is kept and the grid part resized as a C-channel g x g image with <paramref name="spec"/>
    /// (default <see cref="ResampleSpec.TorchBicubicAntialias"/>, CLIP in DeepEncoder; InternViT uses
    /// <see cref="ResampleSpec.TorchBicubic"/>). Returns the table itself when t == g: both specs are then exactly the
    /// identity (the source coordinate of every output pixel is the pixel itself, weights [0, 1, 0, 0]).
    /// </summary>
    public static Value ResizeWithClassRow(GraphBuilder b, Value table, int grid, int target, long channels, string name,
        ResampleSpec? spec = null)
    {
        if (grid == target) return table;
        spec ??= ResampleSpec.TorchBicubicAntialias;
        var outShape = table.Shape.ToLongs();
        outShape[^2] = 1L + (long)target * target;
        string how = spec.Antialias ? "bicubic antialias" : "bicubic";
        return b.Derived(name, outShape, $"{how} {grid}x{grid} -> {target}x{target} (class row kept)", [table],
            src => [.. src[0].AsSpan(0, (int)channels), .. ResizeChannelsLast(src[0][(int)channels..], grid, target, channels, spec)]);
    }

    /// <summary>[g*g, C] channel-last rows -> [t*t, C], resized as a C-channel g x g image (default: antialiased bicubic).</summary>
    public static float[] ResizeChannelsLast(float[] rows, int grid, int target, long channels, ResampleSpec? spec = null)
    {
        int c = checked((int)channels);
        var chw = new float[c * grid * grid];
        for (int p = 0; p < grid * grid; p++)
            for (int k = 0; k < c; k++)
                chw[k * grid * grid + p] = rows[p * c + k];
        var resized = Resample.Resize2D(chw, c, grid, grid, target, target, spec ?? ResampleSpec.TorchBicubicAntialias);
        var result = new float[target * target * c];
        for (int p = 0; p < target * target; p++)
            for (int k = 0; k < c; k++)
                result[p * c + k] = resized[k * target * target + p];
        return result;
    }
}
