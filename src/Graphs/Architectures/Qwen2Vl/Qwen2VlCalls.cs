using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures.Qwen2Vl;

/// <summary>
/// The host side of the NaViT families' graph calls (Qwen2-VL, Qwen2.5-VL): a processor batch (packed pixel_values
/// [N, values] + grid_thw [images, 3]) is cut into one call per image or video, and the calls' results are joined back
/// into the packed layout the original returns.
/// </summary>
public static class Qwen2VlCalls
{
    /// <summary>
    /// The build request of a fixture case of either Qwen family: one symbolic graph serves every case, so the request is
    /// the default; the case's "patches", when given, must be a positive integer.
    /// </summary>
    public static BuildRequest RequestForCase(System.Text.Json.JsonElement fixtureCase)
    {
        if (fixtureCase.TryGetProperty("patches", out var p) && (!p.TryGetInt64(out long patches) || patches < 1))
            throw new GraphException("fixture case \"patches\" must be a positive integer");
        return new BuildRequest();
    }

    /// <summary>One call's share of a packed batch: its grid, the first packed row and the row count (T*H*W).</summary>
    public readonly record struct Slot(GridThw Grid, long FirstRow);

    /// <summary>The grids of grid_thw with their first rows; checks pixel_values holds exactly their rows.</summary>
    public static IReadOnlyList<Slot> Split(string family, IReadOnlyDictionary<string, HostTensor> given, int patchValues)
    {
        if (!given.TryGetValue("grid_thw", out var gridThw)) throw new GraphException($"{family} inputs: no grid_thw");
        if (!given.TryGetValue("pixel_values", out var pixels))
            throw new GraphException($"{family} inputs: grid_thw given without pixel_values");
        var grids = Qwen2VlPositions.ParseGrid(gridThw);
        long total = grids.Sum(g => (long)g.Patches);
        if (pixels.Floats is null || pixels.Shape.Length != 2 || pixels.Shape[0] != total || pixels.Shape[1] != patchValues)
            throw new GraphException($"{family} inputs: pixel_values {pixels.DType.ShortName()}{pixels.ShapeText} does not hold the " +
                $"[{total}, {patchValues}] packed patch rows grid_thw describes");
        var slots = new List<Slot>();
        long row = 0;
        foreach (var g in grids)
        {
            slots.Add(new Slot(g, row));
            row += g.Patches;
        }
        return slots;
    }

    /// <summary>
    /// The calls of a processor batch that holds grid_thw: <paramref name="callsOf"/> gives the calls of each image or
    /// video (its <see cref="Slot"/> of the packed pixel_values, checked by <see cref="Split"/>), in packed order.
    /// </summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Plan(string family, IReadOnlyDictionary<string, HostTensor> given,
        int patchValues, Func<HostTensor, Slot, IEnumerable<IReadOnlyDictionary<string, HostTensor>>> callsOf)
    {
        var slots = Split(family, given, patchValues);
        var pixels = given["pixel_values"];
        return [.. slots.SelectMany(slot => callsOf(pixels, slot))];
    }

    /// <summary>The slot of each frame of an image or video (an image is one frame), in order: grid T = 1 each.</summary>
    public static IEnumerable<Slot> FrameSlots(Slot slot)
    {
        var g = slot.Grid;
        for (int t = 0; t < g.T; t++) yield return new Slot(g with { T = 1 }, slot.FirstRow + (long)t * g.FramePatches);
    }

    /// <summary>
    /// The graph inputs every call of both families has: the call's pixel rows and its rotary tables as
    /// [patches, head_dim] (Qwen2.5-VL adds its window indices to the dictionary).
    /// </summary>
    public static Dictionary<string, HostTensor> RotaryCall(HostTensor pixels, long patches, int headDim, float[] cos, float[] sin) =>
        new(StringComparer.Ordinal)
        {
            ["pixel_values"] = pixels,
            ["rotary_cos"] = new HostTensor([patches, headDim], cos),
            ["rotary_sin"] = new HostTensor([patches, headDim], sin),
        };

    /// <summary>
    /// Processor-style random inputs: <paramref name="batch"/> images of different sizes (the first 22 x 30 patches, so
    /// windows of 2 or 4 merge units have ragged edges), pixels uniform in [-1, 1] from <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> Sample(int patchValues, int mergeSize, int seed, int batch)
    {
        if (batch < 1) throw new GraphException($"batch {batch}: must be at least 1");
        var grid = new long[3 * batch];
        long rows = 0;
        for (int i = 0; i < batch; i++)
        {
            (grid[3 * i], grid[3 * i + 1], grid[3 * i + 2]) = (1, (11 + i % 4) * mergeSize, (15 - i % 5) * mergeSize);
            rows += grid[3 * i + 1] * grid[3 * i + 2];
        }
        var rng = new Random(seed);
        var pixels = new float[rows * patchValues];
        for (long k = 0; k < pixels.LongLength; k++) pixels[k] = (float)(rng.NextDouble() * 2 - 1);
        return new Dictionary<string, HostTensor>(StringComparer.Ordinal)
        {
            ["pixel_values"] = new HostTensor([rows, patchValues], pixels),
            ["grid_thw"] = new HostTensor([batch, 3], grid),
        };
    }

    /// <summary>The rows of one image or video as [T, H*W, values] (frames on the batch axis), in packed order.</summary>
    public static HostTensor Frames(HostTensor pixels, Slot slot)
    {
        long values = pixels.Shape[1];
        var data = new float[(long)slot.Grid.Patches * values];
        Array.Copy(pixels.Data, slot.FirstRow * values, data, 0, data.LongLength);
        return new HostTensor([slot.Grid.T, slot.Grid.FramePatches, values], data);
    }

    /// <summary>
    /// Joins per-call results: every tensor is [F, rows, ...] (frames on the batch axis); its first two axes are
    /// flattened and the calls concatenated in call order, giving the packed [sum F*rows, ...] of one original forward.
    /// </summary>
    public static IReadOnlyDictionary<string, HostTensor> Concatenate(IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> results)
    {
        if (results.Count == 0) throw new GraphException("no graph calls to combine");
        var joined = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var name in results[0].Keys)
        {
            var parts = results.Select(r => r.TryGetValue(name, out var t) ? t : throw new GraphException($"call result lacks '{name}'"))
                .ToArray();
            var first = parts[0];
            if (parts.Any(p => p.Shape.Length < 2 || p.Shape.Length != first.Shape.Length
                || !p.Shape.Skip(2).SequenceEqual(first.Shape.Skip(2))))
                throw new GraphException($"call results of '{name}' do not share a [frames, rows, ...] layout");
            long rows = parts.Sum(p => p.Shape[0] * p.Shape[1]);
            long[] shape = [rows, .. first.Shape.Skip(2)];
            if (first.Longs is not null)
                joined[name] = new HostTensor(shape, parts.SelectMany(p => p.Longs!).ToArray());
            else
            {
                var data = new float[parts.Sum(p => p.Data.LongLength)];
                long at = 0;
                foreach (var p in parts)
                {
                    Array.Copy(p.Data, 0, data, at, p.Data.LongLength);
                    at += p.Data.LongLength;
                }
                joined[name] = new HostTensor(shape, data, first.DType);
            }
        }
        return joined;
    }
}
