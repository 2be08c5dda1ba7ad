using System.CommandLine;
using System.Diagnostics;
using ModelForge.Cli.Output;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Ir;
using ModelForge.Validators.Onnx;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>
/// `modelforge run`: image -> the family's preprocessing -> exported graph(s) on ONNX Runtime -> the final vision-token
/// sequence, written as safetensors ("tokens" [N, P]). The export's manifest names the family: DeepSeek-OCR (here:
/// [local mosaic], global view, view_seperator), DeepSeek-OCR 2 (<see cref="RunDeepEncoder2"/>), Qwen2-VL and Qwen2.5-VL
/// (<see cref="RunQwen"/>).
/// </summary>
public static class RunCommand
{
    public static Command Create()
    {
        var onnx = new Option<string>("--onnx")
        {
            Description = "An export folder (manifest.json + .onnx files) or a single global-view .onnx file", Required = true,
        };
        var image = new Option<string>("--image") { Description = "PNG or JPEG image", Required = true };
        var mode = new Option<string?>("--mode")
        {
            Description = "Mode, when the artifact does not record one (deepencoder: tiny, small, base, large, gundam, gundam-m; "
                + "deepencoder2: gundam, base)",
        };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the tokens (.safetensors)", Required = true };
        var maxTiles = new Option<int>("--max-tiles")
        {
            Description = "Largest tile count of the tiling rule (deepencoder 2..9; deepencoder2 2..6)", DefaultValueFactory = _ => 6,
        };
        var minPixels = new Option<int?>("--min-pixels")
        {
            Description = "qwen2vl / qwen25vl: smallest resized pixel count (default: the manifest's preprocessing, else the "
                + "released 3136)",
        };
        var maxPixels = new Option<int?>("--max-pixels")
        {
            Description = "qwen2vl / qwen25vl: largest resized pixel count (default: the manifest's preprocessing, else the "
                + "released 12845056)",
        };
        var json = CommonOptions.Json();
        var cmd = new Command("run",
            "Run an exported DeepEncoder, DeepEncoder V2, Qwen2-VL or Qwen2.5-VL artifact on an image and write its vision tokens")
        {
            onnx, image, mode, output, maxTiles, minPixels, maxPixels, json,
        };
        var providers = new ProviderOptions();
        providers.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var io = new CliOutput(parse.GetValue(json));
            int max = parse.GetValue(maxTiles);
            var ort = providers.Resolve(parse);
            string? family = RunArtifact.ArchitectureOf(parse.GetValue(onnx)!);
            bool pixelOptions = parse.GetValue(minPixels) is not null || parse.GetValue(maxPixels) is not null;
            if (family is not null && RunQwen.Families.Contains(family))
            {
                // The DeepSeek-OCR options have no meaning for NaViT: refused rather than silently ignored.
                if (parse.GetValue(mode) is { } m)
                    throw new UsageException($"--mode {m}: {family} artifacts have no modes; use --min-pixels / --max-pixels");
                if (parse.GetResult(maxTiles) is { Implicit: false })
                    throw new UsageException($"--max-tiles {max}: {family} artifacts do not tile; use --min-pixels / --max-pixels");
                return RunQwen.Execute(io, parse.GetValue(onnx)!, parse.GetValue(image)!, parse.GetValue(output)!,
                    parse.GetValue(minPixels), parse.GetValue(maxPixels), ort);
            }
            // (An unreadable --onnx path falls through: the DeepEncoder path names what is wrong with it.)
            if (pixelOptions && family is not null)
                throw new UsageException(
                    $"--min-pixels / --max-pixels: apply to qwen2vl and qwen25vl artifacts; {parse.GetValue(onnx)} is a {family} artifact");
            if (family == "deepencoder2")
                return RunDeepEncoder2.Execute(io, parse.GetValue(onnx)!, parse.GetValue(image)!, parse.GetValue(mode),
                    parse.GetValue(output)!, max, ort);
            if (max < DeepSeekOcrMode.MinTiles || max > DeepSeekOcrMode.MaxTiles)
                throw new UsageException($"--max-tiles {max}: must be between {DeepSeekOcrMode.MinTiles} and {DeepSeekOcrMode.MaxTiles}");
            string imagePath = parse.GetValue(image)!;
            if (!File.Exists(imagePath)) throw new UsageException($"--image {imagePath}: file not found");
            var artifact = RunArtifact.Open(parse.GetValue(onnx)!, parse.GetValue(mode));
            Converters.Artifacts.OutputGuard.CheckFile("--out", parse.GetValue(output)!,
                [imagePath, artifact.Path, artifact.GlobalModel, artifact.GlobalModel + ".data"]);
            var clock = Stopwatch.StartNew();
            io.Step($"preprocess: {Path.GetFileName(imagePath)} for mode {artifact.Mode.Name}");
            var picture = ImageLoader.Load(imagePath);
            var input = DeepSeekOcrPreprocessor.Preprocess(picture, artifact.Mode, maxCrops: max);
            // Checked before any session: the tiling needs the local graph (RunArtifact already refuses such artifacts).
            if (input.Tiles.Count > 0 && artifact.LocalModel is null)
                throw new UsageException(
                    $"--onnx {artifact.Path}: mode {artifact.Mode.Name} tiles the image but the artifact has no local-tile model");

            io.Step("session: ONNX Runtime, global view");
            using var global = new OrtRunner(artifact.GlobalModel, ort);
            io.Step("inference: global view");
            var globalOut = global.Run(
                new Dictionary<string, HostTensor> { ["pixel_values"] = DeepSeekOcrPreprocessor.Batch([input.Global]) },
                ["global_view_tokens"]);
            var globalTokens = globalOut["global_view_tokens"];
            long p = globalTokens.Shape[^1];
            float[] tokens = globalTokens.Data;
            if (input.Tiles.Count > 0)
            {
                io.Step("session: ONNX Runtime, local tiles");
                using var local = new OrtRunner(artifact.LocalModel!, ort);
                io.Step($"inference: {input.Tiles.Count} local tiles");
                var localOut = local.Run(
                    new Dictionary<string, HostTensor> { ["pixel_values"] = DeepSeekOcrPreprocessor.Batch(input.Tiles) },
                    ["projected", "image_newline"]);
                var projected = localOut["projected"];
                int tileGrid = (int)Math.Round(Math.Sqrt(projected.Shape[1]));
                tokens = DeepSeekOcrTokenLayout.Assemble(globalTokens.Data, projected.Data, tileGrid, input.TilesWide, input.TilesHigh,
                    localOut["image_newline"].Data, (int)p);
            }
            long n = tokens.LongLength / p;
            string outPath = parse.GetValue(output)!;
            io.Step($"write: {outPath}");
            string tiles = input.Tiles.Count > 0 ? $"{input.TilesWide}x{input.TilesHigh}" : "none";
            var written = new WritableTensor("tokens", DataType.Float32, [n, p],
                () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()).ToArray());
            SafetensorsWriter.Write(outPath, [written], new Dictionary<string, string>
            {
                ["mode"] = artifact.Mode.Name, ["tiles"] = input.Tiles.Count > 0 ? tiles : "1x1", ["image"] = Path.GetFileName(imagePath),
            });
            io.EndStep();
            io.Human.MarkupLine($"{n} tokens [[{n}, {p}]] (mode {artifact.Mode.Name}, tiles {tiles}) -> {Markup.Escape(outPath)}");
            io.Human.MarkupLine($"time: total {clock.Elapsed.TotalSeconds:F3} s ({Markup.Escape(io.PhaseSummary())})");
            if (io.Json)
                io.WriteJson(new
                {
                    tokens = n, width = p, shape = new[] { n, p }, mode = artifact.Mode.Name, tiles, out_path = Path.GetFullPath(outPath),
                    seconds = Math.Round(clock.Elapsed.TotalSeconds, 3), phases = io.PhaseSeconds(),
                });
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
