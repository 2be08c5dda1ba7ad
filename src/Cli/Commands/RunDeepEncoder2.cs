using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModelForge.Cli.Output;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge run` for a DeepSeek-OCR 2 (deepencoder2) export folder: DeepSeek-OCR 2 preprocessing -> the global graph
/// (one image) and, when the image is cropped, the local graph (all crops at once) -> the token sequence of the original
/// (crops' tokens crop-major, global view's tokens, view_seperator), written as safetensors "tokens" [N, P].
/// </summary>
internal static class RunDeepEncoder2
{
    /// <summary>Runs the artifact on the image and writes the tokens; returns the exit code.</summary>
    public static int Execute(CliOutput io, string path, string imagePath, string? modeOverride, string outPath, int maxCrops,
        OrtRunnerOptions? ort = null)
    {
        // A single file is refused: the view sizes and the local-crop model live in the folder's manifest.
        if (File.Exists(path))
            throw new UsageException($"--onnx {path}: a deepencoder2 model file; give its export folder " +
                "(manifest.json records the view sizes and the local-crop model)");
        // Verified like every export folder (files inside it, listed, sha256) and --out kept away from the inputs.
        Converters.Artifacts.ArtifactManifest.Load(path);
        var (mode, views, global, local) = Open(path, modeOverride);
        Converters.Artifacts.OutputGuard.CheckFile("--out", outPath, [imagePath, path, global, global + ".data"]);
        if (maxCrops < views.MinCrops || maxCrops > views.MaxCrops)
            throw new UsageException(
                $"--max-tiles {maxCrops}: DeepSeek-OCR 2 cuts {views.MinCrops}..{views.MaxCrops} crops (views.min_crops / max_crops)");
        if (!File.Exists(imagePath)) throw new UsageException($"--image {imagePath}: file not found");
        var clock = Stopwatch.StartNew();
        io.Step($"preprocess: {Path.GetFileName(imagePath)} for mode {mode.Name}");
        var picture = ImageLoader.Load(imagePath);
        var input = DeepSeekOcr2Preprocessor.Preprocess(picture, mode, views.MinCrops, maxCrops);

        HostTensor globalTokens;
        io.Step("session: ONNX Runtime, global view");
        using (var runner = new OrtRunner(global, ort))
        {
            io.Step("inference: global view");
            globalTokens = runner.Run(
                new Dictionary<string, HostTensor> { ["pixel_values"] = DeepSeekOcrPreprocessor.Batch([input.Global]) },
                ["image_tokens"])["image_tokens"];
        }
        long p = globalTokens.Shape[^1];
        float[] tokens = globalTokens.Data;
        if (input.Tiles.Count > 0)
        {
            if (local is null)
                throw new UsageException($"--onnx {path}: mode {mode.Name} crops this image but the artifact has no local model");
            io.Step("session: ONNX Runtime, local crops");
            using var runner = new OrtRunner(local, ort);
            io.Step($"inference: {input.Tiles.Count} local crops");
            var projected = runner.Run(
                new Dictionary<string, HostTensor> { ["pixel_values"] = DeepSeekOcrPreprocessor.Batch(input.Tiles) },
                ["projected"])["projected"];
            tokens = DeepSeekOcr2TokenLayout.Assemble(globalTokens.Data, projected.Data, (int)p);
        }
        long n = tokens.LongLength / p;
        string crops = input.Tiles.Count > 0 ? $"{input.TilesWide}x{input.TilesHigh}" : "none";
        io.Step($"write: {outPath}");
        var written = new WritableTensor("tokens", DataType.Float32, [n, p], () => MemoryMarshal.AsBytes(tokens.AsSpan()).ToArray());
        SafetensorsWriter.Write(outPath, [written], new Dictionary<string, string>
        {
            ["architecture"] = "deepencoder2", ["mode"] = mode.Name, ["crops"] = crops, ["image"] = Path.GetFileName(imagePath),
        });
        io.EndStep();
        io.Human.MarkupLine($"{n} tokens [[{n}, {p}]] (deepencoder2, mode {mode.Name}, crops {crops}) -> {Markup.Escape(outPath)}");
        io.Human.MarkupLine($"time: total {clock.Elapsed.TotalSeconds:F3} s ({Markup.Escape(io.PhaseSummary())})");
        if (io.Json)
            io.WriteJson(new
            {
                architecture = "deepencoder2", tokens = n, width = p, shape = new[] { n, p }, mode = mode.Name, crops,
                out_path = Path.GetFullPath(outPath), seconds = Math.Round(clock.Elapsed.TotalSeconds, 3), phases = io.PhaseSeconds(),
            });
        return ExitCodes.Ok;
    }

    /// <summary>Mode (sizes from the manifest's parts and config), views and the model files of an export folder.</summary>
    private static (DeepSeekOcr2Mode Mode, ViewsConfig Views, string Global, string? Local) Open(string path, string? modeOverride)
    {
        string manifest = Path.Combine(path, "manifest.json");
        try
        {
            using var doc = JsonDocument.Parse(Converters.IO.SafeFile.ReadAllBytes(manifest, 16 << 20, manifest));
            var root = doc.RootElement;
            string? recorded = root.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            string name = modeOverride ?? recorded
                ?? throw new UsageException($"--onnx {path}: the export records no mode; add --mode (gundam or base)");
            DeepSeekOcr2Mode mode;
            try
            {
                mode = DeepSeekOcr2Mode.Parse(name);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--mode {name}: {e.Message}");
            }
            var cfg = root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object
                ? DeepEncoder2Config.FromJson(c) : DeepEncoder2Config.Default;
            var parts = root.GetProperty("parts").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e);
            if (!parts.TryGetValue("global", out var g) && !parts.TryGetValue("model", out g))
                throw new UsageException($"{manifest}: no global part (export with --mode gundam or base)");
            string PartFile(JsonElement part) => Path.Combine(path, part.GetProperty("file").GetString()!);
            string? localFile = parts.TryGetValue("local", out var l) ? PartFile(l) : null;
            if (mode.Crop && localFile is null)
                throw new UsageException(
                    $"--onnx {path}: mode {mode.Name} needs the local-crop model; this export has none (export with --mode {mode.Name})");
            return (mode.For(cfg.Views), cfg.Views, PartFile(g), localFile);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or GraphException)
        {
            // A damaged or hand-edited manifest is the user's input: one line naming it, not an internal error.
            throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
        }
    }
}
