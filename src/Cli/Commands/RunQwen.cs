using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModelForge.Cli.Output;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge run` for a Qwen2-VL (qwen2vl) or Qwen2.5-VL (qwen25vl) export folder: the processor's preprocessing
/// (<see cref="Qwen2VlPreprocessor"/>: smart_resize within min/max pixels, resize, normalise, packed patch rows +
/// grid_thw) -> the family's host-derived graph inputs (Architecture.PlanCalls: rotary tables, and for
/// qwen25vl the window order, slots and bias) -> ONNX Runtime, one call per frame or image -> the calls joined in
/// processor order (Architecture.CombineCalls) -> "tokens" [N, P] = image_features, N = (H/28) * (W/28).
/// min/max pixels: --min-pixels / --max-pixels, else the manifest's "preprocessing" (an export from an HF folder records
/// the folder's preprocessor_config.json), else the released preprocessor_config.json (3136 / 12845056).
/// </summary>
internal static class RunQwen
{
    /// <summary>The architectures this runner takes.</summary>
    public static readonly IReadOnlySet<string> Families = new HashSet<string>(StringComparer.Ordinal) { "qwen2vl", "qwen25vl" };

    /// <summary>The graph output written as the tokens.</summary>
    private const string Output = "image_features";

    /// <summary>What the run needs from an export folder, read from its verified manifest.</summary>
    private sealed record Artifact(string Folder, string Arch, JsonElement Config, string Model, IReadOnlyList<string> Inputs,
        int Heads, Qwen2VlProcessorConfig Processor, string Source);

    /// <summary>Runs the artifact on the image and writes the tokens; returns the exit code.</summary>
    public static int Execute(CliOutput io, string path, string imagePath, string outPath, int? minPixels, int? maxPixels,
        OrtRunnerOptions? ort)
    {
        if (File.Exists(path))
            throw new UsageException($"--onnx {path}: a Qwen model file; give its export folder (manifest.json records the config " +
                "the rotary tables and windows are computed from)");
        var artifact = Open(path);
        var processor = Pixels(artifact, minPixels, maxPixels);
        if (!File.Exists(imagePath)) throw new UsageException($"--image {imagePath}: file not found");
        Converters.Artifacts.OutputGuard.CheckFile("--out", outPath, [imagePath, path]);

        var clock = Stopwatch.StartNew();
        io.Step($"preprocess: {Path.GetFileName(imagePath)} (min_pixels {processor.MinPixels}, max_pixels {processor.MaxPixels})");
        var picture = ImageLoader.Load(imagePath);
        var (w, h, grid) = Plan(picture, processor, imagePath);
        CheckBounds(artifact, processor, picture, (w, h, grid), imagePath);
        var input = Qwen2VlPreprocessor.Preprocess(picture, processor);
        var arch = ArchitectureRegistry.Get(artifact.Arch);
        var calls = arch.PlanCalls(artifact.Config, input.ToInputs());
        var missing = artifact.Inputs.Where(n => !calls[0].ContainsKey(n)).ToArray();
        if (missing.Length > 0)
            throw new UsageException($"--onnx {path}: the model takes {string.Join(", ", missing)}, which {artifact.Arch}'s " +
                $"host side does not compute (it gives {string.Join(", ", calls[0].Keys)}); re-export with this ModelForge");

        io.Step($"session: ONNX Runtime, {Path.GetFileName(artifact.Model)}");
        var results = new List<IReadOnlyDictionary<string, HostTensor>>();
        using (var runner = new OrtRunner(artifact.Model, ort))
        {
            io.Step($"inference: {calls.Count} call{(calls.Count == 1 ? "" : "s")}, grid {grid.T}x{grid.H}x{grid.W}");
            foreach (var call in calls)
                results.Add(runner.Run(artifact.Inputs.ToDictionary(n => n, n => call[n], StringComparer.Ordinal), [Output]));
        }
        var features = arch.CombineCalls(artifact.Config, results)[Output];
        long n = features.Shape[0], p = features.Shape[^1];
        if (n != input.Tokens(processor.MergeSize))
            throw new InvalidOperationException(
                $"{Output} has {n} rows, expected {input.Tokens(processor.MergeSize)} tokens for grid {grid}");

        io.Step($"write: {outPath}");
        float[] tokens = features.Data;
        var written = new WritableTensor("tokens", DataType.Float32, [n, p], () => MemoryMarshal.AsBytes(tokens.AsSpan()).ToArray());
        string resized = $"{w}x{h}";
        string gridText = $"{grid.T}x{grid.H}x{grid.W}";
        SafetensorsWriter.Write(outPath, [written], new Dictionary<string, string>
        {
            ["architecture"] = artifact.Arch, ["image"] = Path.GetFileName(imagePath), ["resized"] = resized, ["grid_thw"] = gridText,
            ["min_pixels"] = Invariant(processor.MinPixels), ["max_pixels"] = Invariant(processor.MaxPixels),
        });
        io.EndStep();
        io.Human.MarkupLine($"{n} tokens [[{n}, {p}]] ({artifact.Arch}, {picture.Width}x{picture.Height} resized to {resized}, " +
            $"grid_thw {gridText}) -> {Markup.Escape(outPath)}");
        io.Human.MarkupLine($"time: total {clock.Elapsed.TotalSeconds:F3} s ({Markup.Escape(io.PhaseSummary())})");
        if (io.Json)
            io.WriteJson(new
            {
                tokens = n, width = p, shape = new[] { n, p }, architecture = artifact.Arch, resized = new[] { w, h },
                grid_thw = new[] { grid.T, grid.H, grid.W }, min_pixels = processor.MinPixels, max_pixels = processor.MaxPixels,
                pixels_from = minPixels is null && maxPixels is null ? artifact.Source : "--min-pixels / --max-pixels",
                out_path = Path.GetFullPath(outPath),
                seconds = Math.Round(clock.Elapsed.TotalSeconds, 3), phases = io.PhaseSeconds(),
            });
        return ExitCodes.Ok;
    }

    /// <summary>The smart_resize decision for the decoded image; smart_resize's own refusal (aspect above 200) names --image.</summary>
    private static (int Width, int Height, GridThw Grid) Plan(RgbImage picture, Qwen2VlProcessorConfig processor, string imagePath)
    {
        try
        {
            return Qwen2VlPreprocessor.Plan(picture.Width, picture.Height, processor);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--image {imagePath}: {e.Message}");
        }
    }

    /// <summary>
    /// Refuses, before any session, an image whose one frame would need a single activation above
    /// <see cref="ModelBounds.MaxActivationBytes"/>: a full-attention block holds heads x patches² fp32 scores (ONNX
    /// Runtime's CPU attention materialises them), so the limit is on patches per frame, and the message gives the
    /// largest --max-pixels that fits.
    /// </summary>
    private static void CheckBounds(Artifact a, Qwen2VlProcessorConfig processor, RgbImage picture, (int W, int H, GridThw Grid) plan,
        string imagePath)
    {
        double patches = plan.Grid.FramePatches;
        double bytes = 4.0 * a.Heads * patches * patches;
        if (bytes <= ModelBounds.MaxActivationBytes) return;
        double fitPatches = Math.Floor(Math.Sqrt(ModelBounds.MaxActivationBytes / (4.0 * a.Heads)));
        long fitPixels = (long)fitPatches * processor.PatchSize * processor.PatchSize;
        int tokens = plan.Grid.FramePatches / (processor.MergeSize * processor.MergeSize);
        throw new UsageException(
            $"--image {imagePath}: {picture.Width}x{picture.Height} resizes to {plan.W}x{plan.H} = {tokens:N0} tokens " +
            $"({plan.Grid.FramePatches:N0} patches, max_pixels {processor.MaxPixels:N0}); full attention over them needs one activation " +
            $"of {Gib(bytes)} ({a.Heads} heads x patches² x 4 bytes), above the limit of {Gib(ModelBounds.MaxActivationBytes)}; " +
            $"use --max-pixels {fitPixels} or less");
    }

    /// <summary>The processor parameters with --min-pixels / --max-pixels applied and checked.</summary>
    private static Qwen2VlProcessorConfig Pixels(Artifact a, int? minPixels, int? maxPixels)
    {
        int factor = a.Processor.PatchSize * a.Processor.MergeSize;
        if (minPixels is < 1) throw new UsageException($"--min-pixels {minPixels}: must be at least 1");
        if (maxPixels is { } mx && mx < factor * factor)
            throw new UsageException($"--max-pixels {mx}: must be at least {factor * factor} (one {factor}x{factor} token)");
        var p = a.Processor with { MinPixels = minPixels ?? a.Processor.MinPixels, MaxPixels = maxPixels ?? a.Processor.MaxPixels };
        if (p.MinPixels > p.MaxPixels)
        {
            string which = minPixels is not null && maxPixels is not null ? "--min-pixels / --max-pixels"
                : minPixels is not null ? $"--min-pixels (max_pixels from {a.Source})" : $"--max-pixels (min_pixels from {a.Source})";
            throw new UsageException($"{which}: min_pixels {p.MinPixels} is above max_pixels {p.MaxPixels}");
        }
        return p;
    }

    /// <summary>The verified manifest's architecture, config, model part, its inputs and the processor parameters.</summary>
    private static Artifact Open(string path)
    {
        var verified = Converters.Artifacts.ArtifactManifest.Load(path);
        string manifest = Path.Combine(verified.Folder, "manifest.json");
        try
        {
            var bytes = Converters.IO.SafeFile.ReadAllBytes(manifest, Converters.Artifacts.ArtifactManifest.MaxBytes, manifest);
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            string arch = root.GetProperty("architecture").GetString()!;
            var config = root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object
                ? c.Clone() : JsonDocument.Parse(ArchitectureRegistry.Get(arch).DefaultConfigJson).RootElement.Clone();
            var part = verified.Part("model") ?? verified.Parts.FirstOrDefault()
                ?? throw new UsageException($"{manifest}: no model part");
            var partJson = root.GetProperty("parts").EnumerateArray().First(e => e.GetProperty("name").GetString() == part.Name);
            var inputs = partJson.GetProperty("inputs").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
            var outputs = partJson.TryGetProperty("outputs", out var o)
                ? o.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray() : [];
            if (!outputs.Contains(Output)) throw new UsageException($"--onnx {path}: the model has no {Output} output");
            var (vit, heads) = arch == "qwen25vl" ? Vit(Qwen25VlVisionConfig.FromJson(config)) : Vit(Qwen2VlVisionConfig.FromJson(config));
            var (processor, source) = Processor(root, vit, manifest);
            return new Artifact(verified.Folder, arch, config, part.ModelPath, inputs, heads, processor, source);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // A damaged or hand-edited manifest is the user's input: one line naming it, not an internal error.
            throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private static ((int Patch, int Temporal, int Merge, int Channels), int Heads) Vit(Qwen2VlVisionConfig v) =>
        ((v.PatchSize, v.TemporalPatchSize, v.SpatialMergeSize, v.InChannels), v.NumHeads);

    private static ((int Patch, int Temporal, int Merge, int Channels), int Heads) Vit(Qwen25VlVisionConfig v) =>
        ((v.PatchSize, v.TemporalPatchSize, v.SpatialMergeSize, v.InChannels), v.NumHeads);

    /// <summary>
    /// Patch, temporal and merge sizes come from the graph's config (they fix the packed row); the manifest's
    /// "preprocessing" (recorded from an HF folder's preprocessor_config.json) gives min/max pixels and mean/std and must
    /// agree on the sizes; without it, the released preprocessor_config.json values.
    /// </summary>
    private static (Qwen2VlProcessorConfig Config, string Source) Processor(JsonElement root,
        (int Patch, int Temporal, int Merge, int Channels) vit, string manifest)
    {
        if (vit.Channels != 3)
            throw new UsageException($"{manifest}: vit.in_channels is {vit.Channels}; run feeds RGB images (3 channels)");
        var config = Qwen2VlProcessorConfig.Released with
        {
            PatchSize = vit.Patch, TemporalPatchSize = vit.Temporal, MergeSize = vit.Merge,
        };
        if (!root.TryGetProperty("preprocessing", out var pre) || pre.ValueKind != JsonValueKind.Object)
            return (config, "the released preprocessor_config.json");
        int Int(string key, int fallback) => pre.TryGetProperty(key, out var v) ? v.GetInt32() : fallback;
        float[] Floats(string key, IReadOnlyList<float> fallback) =>
            pre.TryGetProperty(key, out var v) ? v.EnumerateArray().Select(x => x.GetSingle()).ToArray() : [.. fallback];
        foreach (var (key, want) in new[] { ("patch_size", vit.Patch), ("temporal_patch_size", vit.Temporal), ("merge_size", vit.Merge) })
        {
            if (Int(key, want) != want)
                throw new UsageException($"{manifest}: preprocessing.{key} is {Int(key, want)} but the graph's config has {want}");
        }
        config = config with
        {
            MinPixels = Int("min_pixels", config.MinPixels), MaxPixels = Int("max_pixels", config.MaxPixels),
            Mean = Floats("image_mean", config.Mean), Std = Floats("image_std", config.Std),
        };
        if (config.Mean.Count != 3 || config.Std.Count != 3 || config.Std.Any(s => !(s > 0)))
            throw new UsageException($"{manifest}: preprocessing.image_mean / image_std need 3 values each, std above 0");
        return (config, "the manifest's preprocessing");
    }

    private static string Gib(double bytes) => (bytes / (1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB";

    private static string Invariant(int v) => v.ToString(CultureInfo.InvariantCulture);
}
