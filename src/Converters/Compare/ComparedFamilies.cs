using System.Text.Json.Serialization;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Architectures.InternVl2;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Architectures.Vary;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Compare;

/// <summary>
/// One forward pass the family's own pipeline makes for an image: which graph (architecture part and build request)
/// and the values of its symbolic axes (batch B, tile axis T, Qwen2-VL's token axis M, Qwen2.5-VL's window axis W). Runs of
/// one image are sequential. <paramref name="Inputs"/>, when set, makes the run's graph inputs (host-derived index inputs
/// such as Qwen2.5-VL's window order, which random values cannot stand in for); otherwise a measurement feeds random floats.
/// </summary>
public sealed record GraphRun(string Part, BuildRequest Request, IReadOnlyDictionary<string, long> Bindings, string Description,
    [property: JsonIgnore] Func<IReadOnlyDictionary<string, HostTensor>>? Inputs = null);

/// <summary>What a family makes of one image: vision tokens for the language model, their layout, and the passes.</summary>
public sealed record VisionPlan(long Tokens, string Layout, IReadOnlyList<GraphRun> Runs);

/// <summary>
/// One entry of the comparison: a released configuration of a family plus its token rule (preprocessing + tiling), as
/// data. Adding a family (DeepEncoder V2, Qwen2.5-VL) is one entry in <see cref="ComparedFamilies.All"/>.
/// </summary>
public sealed record ComparedFamily(string Id, string Architecture, string Rule, [property: JsonIgnore] Func<int, int, VisionPlan> Plan)
{
    /// <summary>The registered architecture this entry builds graphs with.</summary>
    [JsonIgnore]
    public Architecture Arch => ArchitectureRegistry.Get(Architecture);
}

/// <summary>The released configurations the `compare` command knows, and their token rules.</summary>
public static class ComparedFamilies
{
    private static readonly IReadOnlyDictionary<string, long> One = new Dictionary<string, long> { ["B"] = 1 };

    /// <summary>DeepSeek-OCR's released config.py: MIN_CROPS 2, MAX_CROPS 6 ("max: 9").</summary>
    public const int DeepSeekMaxCrops = 6;

    /// <summary>InternVL 2.0's released max_dynamic_patch (12 tiles of 448, plus a thumbnail when tiled).</summary>
    public const int InternVlMaxTiles = 12;

    /// <summary>Qwen2.5-VL's released preprocessor_config.json min_pixels (Qwen2.5-VL-3B-Instruct, fixtures/hf-configs).</summary>
    public const int Qwen25VlMinPixels = 3136;

    /// <summary>Qwen2.5-VL's released preprocessor_config.json max_pixels (Qwen2.5-VL-3B-Instruct, fixtures/hf-configs).</summary>
    public const int Qwen25VlMaxPixels = 12845056;

    public static IReadOnlyList<ComparedFamily> All { get; } =
    [
        .. DeepSeekOcrMode.All.Where(m => !m.Crop).Select(Fixed),
        Gundam("deepencoder-gundam", DeepSeekOcrMode.Gundam, DeepSeekMaxCrops),
        Gundam("deepencoder-gundam-9", DeepSeekOcrMode.Gundam, DeepSeekOcrMode.MaxTiles),
        Gundam("deepencoder-gundam-m", DeepSeekOcrMode.GundamM, DeepSeekMaxCrops),
        new("deepencoder2", "deepencoder2",
            "DeepSeek-OCR 2 gundam (released): pages over 768 px cut into 2..6 crops of 768 by aspect ratio + a 1024 global view; "
            + "144 queries per crop, 256 for the global view, + separator",
            DeepEncoder2Gundam),
        new("vary", "vary",
            $"two fixed views: SAM {VaryConfig.Default.Sam.ImageSize} px + CLIP {VaryConfig.Default.Clip.ImageSize} px, "
            + $"{VaryConfig.Default.Tokens} tokens whatever the page",
            (_, _) => new VisionPlan(VaryConfig.Default.Tokens,
                $"{VaryConfig.Default.Tokens} (SAM and CLIP tokens concatenated on channels)",
                [new GraphRun("model", new BuildRequest(), One, "both towers, batch 1")])),
        new("internvl2", "internvl2",
            $"dynamic_preprocess: 1..{InternVlMaxTiles} tiles of 448 by aspect ratio, + thumbnail when tiled; 256 tokens per tile",
            InternVl),
        new("qwen2vl", "qwen2vl",
            $"smart_resize to multiples of 28 within [{Qwen2VlSmartResize.ReleasedMinPixels}, {Qwen2VlSmartResize.ReleasedMaxPixels}] "
            + "pixels; one token per 28x28",
            Qwen2Vl),
        new("qwen25vl", "qwen25vl",
            $"smart_resize to multiples of 28 within [{Qwen25VlMinPixels}, {Qwen25VlMaxPixels}] pixels (released Qwen2.5-VL "
            + $"preprocessor_config); one token per 28x28; window attention in {Qwen25VlVisionConfig.Default.WindowSize}-px windows, "
            + $"full attention only in blocks {string.Join("/", Qwen25VlVisionConfig.Default.FullattBlockIndexes)}",
            Qwen25Vl),
    ];

    /// <summary>What `--families deepencoder,vary,internvl2,qwen2vl` means: the families' headline configurations.</summary>
    public static IReadOnlyDictionary<string, string[]> Groups { get; } = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
    {
        ["deepencoder"] = ["deepencoder-base", "deepencoder-gundam"],
        ["deepencoder2"] = ["deepencoder2"],
        ["vary"] = ["vary"],
        ["internvl2"] = ["internvl2"],
        ["qwen2vl"] = ["qwen2vl"],
        ["qwen25vl"] = ["qwen25vl"],
    };

    /// <summary>Entries for a comma list of entry ids or group names; ArgumentException naming an unknown one.</summary>
    public static IReadOnlyList<ComparedFamily> Resolve(string list)
    {
        var ids = new List<string>();
        foreach (var raw in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Groups.TryGetValue(raw, out var group)) ids.AddRange(group);
            else if (All.Any(f => string.Equals(f.Id, raw, StringComparison.OrdinalIgnoreCase))) ids.Add(raw.ToLowerInvariant());
            else
            {
                string known = string.Join(", ", Groups.Keys.Concat(All.Select(f => f.Id)).Distinct());
                throw new ArgumentException($"--families: unknown family '{raw}' (known: {known})");
            }
        }
        if (ids.Count == 0) throw new ArgumentException("--families: empty list");
        return ids.Distinct().Select(id => All.First(f => f.Id == id)).ToArray();
    }

    private static ComparedFamily Fixed(DeepSeekOcrMode m)
    {
        int g = DeepEncoderConfig.Default.Grids(m.BaseSize).ClipGrid;
        long tokens = DeepSeekOcrTokenLayout.TokenCount(g);
        return new ComparedFamily($"deepencoder-{m.Name}", "deepencoder",
            $"{m.Name}: page padded to {m.BaseSize} px, {g}x{g} grid + newlines + separator = {tokens} tokens",
            (_, _) => new VisionPlan(tokens, $"{g}x({g}+1)+1",
                [new GraphRun("global", new BuildRequest(m.BaseSize), One, $"global {m.BaseSize}")]));
    }

    private static ComparedFamily Gundam(string id, DeepSeekOcrMode m, int maxCrops) => new(id, "deepencoder",
        $"{m.Name}: pages over {DeepSeekOcrPreprocessor.NoTilingLimit} px cut into {DeepSeekOcrMode.MinTiles}..{maxCrops} tiles of "
        + $"{m.TileSize} by aspect ratio + a {m.BaseSize} global view",
        (w, h) =>
        {
            int tile = m.TileSize!.Value;
            int g = DeepEncoderConfig.Default.Grids(m.BaseSize).ClipGrid, t = DeepEncoderConfig.Default.Grids(tile).ClipGrid;
            var global = new GraphRun("global", new BuildRequest(m.BaseSize), One, $"global {m.BaseSize}");
            if (w <= DeepSeekOcrPreprocessor.NoTilingLimit && h <= DeepSeekOcrPreprocessor.NoTilingLimit)
                return new VisionPlan(DeepSeekOcrTokenLayout.TokenCount(g), $"not tiled: {g}x({g}+1)+1", [global]);
            var (cols, rows) = DeepSeekOcrPreprocessor.CountTiles(w, h, DeepSeekOcrMode.MinTiles, maxCrops, tile);
            var local = new GraphRun("local", new BuildRequest(tile, "T", Tiles: true),
                new Dictionary<string, long> { ["T"] = cols * rows },
                $"{cols}x{rows} tiles of {tile}");
            return new VisionPlan(DeepSeekOcrTokenLayout.TokenCount(g, t, cols, rows),
                $"{cols}x{rows} tiles: {rows * t}x({cols * t}+1) + {g}x({g}+1)+1", [local, global]);
        });

    private static VisionPlan DeepEncoder2Gundam(int w, int h)
    {
        var m = DeepSeekOcr2Mode.Gundam;
        // SAM-B's 16-px patches, 4x4 fewer tokens after net_2/net_3: (size / 64)² queries (1024 -> 256, 768 -> 144).
        int Queries(int size) => size / 64 * (size / 64);
        var global = new GraphRun("global", new BuildRequest(m.BaseSize), One, $"global {m.BaseSize}");
        if (w <= m.ImageSize && h <= m.ImageSize)
            return new VisionPlan(DeepSeekOcr2TokenLayout.TokenCount(Queries(m.BaseSize), 0, 0), "not cropped: 256 + 1", [global]);
        var (cols, rows) = TileGrid.Choose(w, h, DeepSeekOcrMode.MinTiles, DeepSeekMaxCrops, m.ImageSize);
        int k = cols * rows;
        var local = new GraphRun("local", new BuildRequest(m.ImageSize, "T", Tiles: true), new Dictionary<string, long> { ["T"] = k },
            $"{cols}x{rows} crops of {m.ImageSize}");
        return new VisionPlan(DeepSeekOcr2TokenLayout.TokenCount(Queries(m.BaseSize), Queries(m.ImageSize), k),
            $"{cols}x{rows} crops: {k} x 144 + 256 + 1", [local, global]);
    }

    private static VisionPlan InternVl(int w, int h)
    {
        var cfg = InternVl2Config.Default;
        int size = cfg.Vit.ImageSize, grid = cfg.Grids(size).TokenGrid;
        var (cols, rows) = TileGrid.Choose(w, h, 1, InternVlMaxTiles, size);
        int tiles = InternVlPreprocessor.CountTiles(w, h, 1, InternVlMaxTiles, size, useThumbnail: true);
        string layout = tiles == 1 ? "1 tile" : $"{cols}x{rows} tiles + thumbnail";
        return new VisionPlan((long)tiles * grid * grid, $"{layout} = {tiles} x {grid * grid}",
            [new GraphRun("model", new BuildRequest(size), new Dictionary<string, long> { ["B"] = tiles }, $"{tiles} tiles of {size}")]);
    }

    private static VisionPlan Qwen2Vl(int w, int h)
    {
        var cfg = Qwen2VlVisionConfig.Default;
        var (rh, rw) = Qwen2VlSmartResize.Resize(h, w, cfg.PatchSize * cfg.SpatialMergeSize);
        long tokens = (long)(rh / cfg.PatchSize) * (rw / cfg.PatchSize) / cfg.MergeUnit;
        return new VisionPlan(tokens, $"resized {rw}x{rh}: {rw / cfg.PatchSize}x{rh / cfg.PatchSize} patches / {cfg.MergeUnit}",
            [new GraphRun("model", new BuildRequest(),
                new Dictionary<string, long> { [Qwen2VlBuilder.TokenSymbol] = tokens, [Qwen2VlBuilder.FrameSymbol] = 1 },
                $"{tokens * cfg.MergeUnit} patches, one frame")]);
    }

    /// <summary>
    /// Qwen2.5-VL (released 7B vision config): the same smart_resize rule; the one symbolic graph bound to M tokens and W
    /// windows of one frame, with the frame's host-derived inputs (rotary tables in window order, window order, slots,
    /// bias, token order: <see cref="Architecture.PlanCalls"/>) for a measurement. Nothing in it is quadratic in M except
    /// the full-attention blocks.
    /// </summary>
    private static VisionPlan Qwen25Vl(int w, int h)
    {
        var cfg = Qwen25VlVisionConfig.Default;
        var (rh, rw) = Qwen2VlSmartResize.Resize(h, w, cfg.PatchSize * cfg.SpatialMergeSize, Qwen25VlMinPixels, Qwen25VlMaxPixels);
        int gh = rh / cfg.PatchSize, gw = rw / cfg.PatchSize;
        long tokens = (long)gh * gw / cfg.MergeUnit;
        int windows = Qwen25VlWindows.Frame(gh, gw, cfg.WindowUnits, cfg.SpatialMergeSize).Windows;
        IReadOnlyDictionary<string, HostTensor> Inputs()
        {
            var rng = new Random(0);
            var pixels = new float[(long)gh * gw * cfg.PatchValues];
            for (long i = 0; i < pixels.LongLength; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
            var batch = new Dictionary<string, HostTensor>(StringComparer.Ordinal)
            {
                ["pixel_values"] = new HostTensor([(long)gh * gw, cfg.PatchValues], pixels),
                ["grid_thw"] = new HostTensor([1, 3], [1L, gh, gw]),
            };
            return ArchitectureRegistry.Get("qwen25vl").PlanCalls(null, batch).Single();
        }
        return new VisionPlan(tokens, $"resized {rw}x{rh}: {gw}x{gh} patches / {cfg.MergeUnit}, {windows} windows",
            [new GraphRun("model", new BuildRequest(), new Dictionary<string, long>
            {
                [Qwen25VlBuilder.TokenSymbol] = tokens, [Qwen25VlBuilder.WindowSymbol] = windows,
            }, $"{tokens * cfg.MergeUnit} patches in {windows} windows, one frame", Inputs)]);
    }
}
