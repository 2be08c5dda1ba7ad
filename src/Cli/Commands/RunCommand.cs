using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge run`: image -> DeepSeek-OCR preprocessing -> exported graph(s) on ONNX Runtime -> the final vision-token
/// sequence ([local mosaic], global view, view_seperator), written as safetensors ("tokens" [N, P]).
/// </summary>
public static class RunCommand
{
    public static Command Create()
    {
        var onnx = new Option<string>("--onnx") { Description = "An export folder (manifest.json + .onnx files) or a single global-view .onnx file", Required = true };
        var image = new Option<string>("--image") { Description = "PNG or JPEG image", Required = true };
        var mode = new Option<string?>("--mode") { Description = "Mode, when the artifact does not record one (deepencoder: tiny, small, base, large, gundam, gundam-m; deepencoder2: gundam, base)" };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the tokens (.safetensors)", Required = true };
        var maxTiles = new Option<int>("--max-tiles") { Description = "Largest tile count of the tiling rule (deepencoder 2..9; deepencoder2 2..6)", DefaultValueFactory = _ => 6 };
        var cmd = new Command("run", "Run an exported DeepEncoder or DeepEncoder V2 artifact on an image and write its vision tokens") { onnx, image, mode, output, maxTiles };
        var providers = new ProviderOptions();
        providers.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            int max = parse.GetValue(maxTiles);
            var ort = providers.Resolve(parse);
            if (RunDeepEncoder2.Handles(parse.GetValue(onnx)!))
                return RunDeepEncoder2.Execute(parse.GetValue(onnx)!, parse.GetValue(image)!, parse.GetValue(mode), parse.GetValue(output)!, max, ort);
            if (max < DeepSeekOcrMode.MinTiles || max > DeepSeekOcrMode.MaxTiles)
                throw new UsageException($"--max-tiles {max}: must be between {DeepSeekOcrMode.MinTiles} and {DeepSeekOcrMode.MaxTiles}");
            var artifact = Artifact.Open(parse.GetValue(onnx)!, parse.GetValue(mode));
            var clock = Stopwatch.StartNew();
            var picture = ImageLoader.Load(parse.GetValue(image)!);
            var input = DeepSeekOcrPreprocessor.Preprocess(picture, artifact.Mode, maxCrops: max);
            double preprocess = clock.Elapsed.TotalSeconds;

            using var global = new OrtRunner(artifact.GlobalModel, ort);
            var globalOut = global.Run(new Dictionary<string, HostTensor> { ["pixel_values"] = Batch([input.Global]) }, ["global_view_tokens"]);
            var globalTokens = globalOut["global_view_tokens"];
            long p = globalTokens.Shape[^1];
            float[] tokens = globalTokens.Data;
            if (input.Tiles.Count > 0)
            {
                if (artifact.LocalModel is null) throw new UsageException($"--onnx {artifact.Path}: mode {artifact.Mode.Name} tiles the image but the artifact has no local-tile model");
                using var local = new OrtRunner(artifact.LocalModel, ort);
                var localOut = local.Run(new Dictionary<string, HostTensor> { ["pixel_values"] = Batch(input.Tiles) }, ["projected", "image_newline"]);
                var projected = localOut["projected"];
                int tileGrid = (int)Math.Round(Math.Sqrt(projected.Shape[1]));
                tokens = DeepSeekOcrTokenLayout.Assemble(globalTokens.Data, projected.Data, tileGrid, input.TilesWide, input.TilesHigh, localOut["image_newline"].Data, (int)p);
            }
            long n = tokens.LongLength / p;
            string outPath = parse.GetValue(output)!;
            SafetensorsWriter.Write(outPath, [new WritableTensor("tokens", DataType.Float32, [n, p], () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()).ToArray())],
                new Dictionary<string, string> { ["mode"] = artifact.Mode.Name, ["tiles"] = $"{input.TilesWide}x{input.TilesHigh}", ["image"] = Path.GetFileName(parse.GetValue(image)!) });
            AnsiConsole.MarkupLine($"{n} tokens [[{n}, {p}]] (mode {artifact.Mode.Name}, tiles {(input.Tiles.Count > 0 ? $"{input.TilesWide}x{input.TilesHigh}" : "none")}) -> {Markup.Escape(outPath)}");
            AnsiConsole.MarkupLine($"time: preprocess {preprocess:F3} s, total {clock.Elapsed.TotalSeconds:F3} s");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Stacks normalised images into [N, 3, H, W].</summary>
    private static HostTensor Batch(IReadOnlyList<RgbImage> images)
    {
        int h = images[0].Height, w = images[0].Width;
        var data = new float[(long)images.Count * 3 * h * w];
        for (int i = 0; i < images.Count; i++)
            DeepSeekOcrPreprocessor.Normalize(images[i]).CopyTo(data, (long)i * 3 * h * w);
        return new HostTensor([images.Count, 3, h, w], data);
    }

    /// <summary>The model files of an export and the mode they were exported for (sizes read from the manifest).</summary>
    private sealed record Artifact(string Path, DeepSeekOcrMode Mode, string GlobalModel, string? LocalModel)
    {
        public static Artifact Open(string path, string? modeOverride)
        {
            if (File.Exists(path))
            {
                if (modeOverride is null) throw new UsageException($"--onnx {path}: a single .onnx file records no mode; add --mode");
                return new Artifact(path, ModeWithSizes(modeOverride, path, null), path, null);
            }
            string manifest = System.IO.Path.Combine(path, "manifest.json");
            if (!File.Exists(manifest)) throw new UsageException($"--onnx {path}: neither an .onnx file nor an export folder with manifest.json");
            try
            {
                return FromManifest(path, manifest, modeOverride);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
            {
                // A damaged or hand-edited manifest is the user's input: one line naming it, not an internal error.
                throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
            }
        }

        private static Artifact FromManifest(string path, string manifest, string? modeOverride)
        {
            if (new FileInfo(manifest).Length > 16 << 20) throw new UsageException($"{manifest}: larger than 16 MiB, not a manifest");
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            var root = doc.RootElement;
            string? recorded = root.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            string modeName = modeOverride ?? recorded ?? throw new UsageException($"--onnx {path}: the export records no mode; add --mode");
            var parts = root.GetProperty("parts").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e);
            var globalPart = parts.GetValueOrDefault("global").ValueKind == JsonValueKind.Object ? parts["global"] : parts.GetValueOrDefault("model");
            if (globalPart.ValueKind != JsonValueKind.Object) throw new UsageException($"{manifest}: no global or model part");
            string ModelFile(JsonElement part) => System.IO.Path.Combine(path, part.GetProperty("file").GetString()!);
            int Size(JsonElement part) => int.Parse(part.GetProperty("image_size").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            int? localSize = parts.TryGetValue("local", out var local) ? Size(local) : null;
            var mode = DeepSeekOcrMode.Parse(modeName) with { BaseSize = Size(globalPart), TileSize = localSize };
            return new Artifact(path, mode, ModelFile(globalPart), localSize is null ? null : ModelFile(local));
        }

        private static DeepSeekOcrMode ModeWithSizes(string name, string path, int? tile)
        {
            var mode = DeepSeekOcrMode.Parse(name);
            if (mode.Crop && tile is null) throw new UsageException($"--onnx {path}: mode {mode.Name} needs a local-tile model; give the export folder");
            return mode;
        }
    }
}
