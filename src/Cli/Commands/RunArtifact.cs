using System.Globalization;
using System.Text.Json;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures.DeepEncoder;

namespace ModelForge.Cli.Commands;

/// <summary>
/// The model files of a DeepEncoder export and the mode they hold, for `modelforge run`. Everything `run` could get
/// wrong silently is refused here with one line saying what the artifact holds: another family's artifact, a --mode the
/// artifact was not exported for (e.g. gundam on a plain Base export: it would give 21 tokens instead of 42), a missing
/// local-tile graph, a local-tile graph given alone, an image size that is no mode's. A plain export (no --mode) records
/// no mode name; its mode is the non-tiling mode whose global size (scaled to the config's SAM size) is the graph's.
/// </summary>
internal sealed record RunArtifact(string Path, DeepSeekOcrMode Mode, string GlobalModel, string? LocalModel)
{
    public string Describe() => Mode.TileSize is { } t
        ? $"mode {Mode.Name}: a {Mode.BaseSize}-px global graph and a {t}-px local-tile graph"
        : $"mode {Mode.Name}: one {Mode.BaseSize}-px global graph, no local-tile graph";

    /// <summary>
    /// The family an --onnx path holds: an export folder's manifest "architecture", or a ModelForge .onnx file's
    /// "architecture" metadata; null when neither can be read (the DeepEncoder path then says what is wrong with it).
    /// </summary>
    public static string? ArchitectureOf(string path)
    {
        try
        {
            if (File.Exists(path)) return OnnxModelReader.Read(path).Metadata.GetValueOrDefault("architecture");
            string manifest = System.IO.Path.Combine(path, "manifest.json");
            if (!File.Exists(manifest)) return null;
            var bytes = Converters.IO.SafeFile.ReadAllBytes(manifest, Converters.Artifacts.ArtifactManifest.MaxBytes, manifest);
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("architecture", out var a)
                && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;   // unreadable: RunArtifact.Open reports it with one line
        }
    }

    public static RunArtifact Open(string path, string? modeOverride)
    {
        if (modeOverride is not null) CommonOptions.CheckMode(modeOverride);
        if (File.Exists(path)) return FromFile(System.IO.Path.GetFullPath(path), modeOverride);
        string manifest = System.IO.Path.Combine(path, "manifest.json");
        if (!File.Exists(manifest))
            throw new UsageException($"--onnx {path}: neither an .onnx file nor an export folder with manifest.json");
        try
        {
            return FromManifest(path, manifest, modeOverride);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException
                                   or OverflowException)
        {
            // A damaged or hand-edited manifest is the user's input: one line naming it, not an internal error.
            throw new UsageException($"{manifest}: not a valid ModelForge manifest ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private static RunArtifact FromManifest(string path, string manifest, string? modeOverride)
    {
        // Verified before anything is loaded (regular files, bounded read, files inside the folder, sizes and sha256 as
        // recorded); the mode and sizes are then read from the same, checked manifest.
        Converters.Artifacts.ArtifactManifest.Load(path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
        var root = doc.RootElement;
        string arch = root.TryGetProperty("architecture", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "?";
        if (arch != "deepencoder")
            throw new UsageException(
                $"--onnx {path}: a {arch} artifact; run takes DeepEncoder, DeepEncoder V2, Qwen2-VL and Qwen2.5-VL artifacts only");
        string? recorded = root.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        var parts = root.GetProperty("parts").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e);
        var globalPart = parts.GetValueOrDefault("global").ValueKind == JsonValueKind.Object
            ? parts["global"] : parts.GetValueOrDefault("model");
        if (globalPart.ValueKind != JsonValueKind.Object) throw new UsageException($"{manifest}: no global or model part");
        string ModelFile(JsonElement part) => System.IO.Path.Combine(path, part.GetProperty("file").GetString()!);
        int Size(JsonElement part) => int.Parse(part.GetProperty("image_size").GetString()!, CultureInfo.InvariantCulture);
        int baseSize = Size(globalPart);
        int? localSize = parts.TryGetValue("local", out var local) ? Size(local) : null;

        DeepSeekOcrMode held;
        if (recorded is not null)
        {
            held = DeepSeekOcrMode.Parse(recorded) with { BaseSize = baseSize, TileSize = localSize };
            if (DeepSeekOcrMode.Parse(recorded).Crop != localSize.HasValue)
                throw new UsageException(
                    $"{manifest}: records mode {recorded} but {(localSize is null ? "has no" : "has a")} local-tile part");
        }
        else
        {
            if (localSize is not null) throw new UsageException($"{manifest}: a local-tile part but no mode recorded");
            var (sam, patch) = SamSize(root);
            held = NonTilingModeOf(baseSize, sam, patch) ?? throw new UsageException(
                $"--onnx {path}: exported at {baseSize} px, which is no DeepSeek-OCR mode's global size for a {sam}-px SAM " +
                $"({ModeSizes(sam, patch)}); export with --mode");
        }
        var artifact = new RunArtifact(path, held, ModelFile(globalPart), localSize is null ? null : ModelFile(local));
        if (modeOverride is not null && !string.Equals(modeOverride.Trim(), held.Name, StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--mode {modeOverride}: {path} holds {artifact.Describe()}; drop --mode, or export --mode " +
                modeOverride.Trim().ToLowerInvariant());
        return artifact;
    }

    /// <summary>A single .onnx file: its metadata names family and part, its input its size; only non-tiling modes fit one file.</summary>
    private static RunArtifact FromFile(string path, string? modeOverride)
    {
        var summary = OnnxModelReader.Read(path);
        string arch = summary.Metadata.GetValueOrDefault("architecture", "?");
        if (arch != "deepencoder")
            throw new UsageException(
                $"--onnx {path}: a {arch} model; run takes DeepEncoder, DeepEncoder V2, Qwen2-VL and Qwen2.5-VL artifacts only");
        if (summary.Metadata.GetValueOrDefault("part") == "local")
            throw new UsageException($"--onnx {path}: a local-tile graph; give the export folder (global + local graphs)");
        var pixels = summary.Inputs.FirstOrDefault(i => i.Name == "pixel_values")
            ?? throw new UsageException($"--onnx {path}: has no pixel_values input");
        if (pixels.Dims.Count != 4 || !int.TryParse(pixels.Dims[2], CultureInfo.InvariantCulture, out int size)
            || pixels.Dims[3] != pixels.Dims[2])
            throw new UsageException($"--onnx {path}: pixel_values is [{string.Join(", ", pixels.Dims)}], not a fixed square image");
        // A single file carries no config: the released modes' sizes decide; a scaled model's size needs --mode.
        var byReleasedSize = NonTilingModeOf(size, 1024, 16);
        if (modeOverride is null)
            return new RunArtifact(path, byReleasedSize ?? throw new UsageException(
                $"--onnx {path}: takes {size}-px images, which is no released mode's size ({ModeSizes(1024, 16)}); " +
                "add --mode or give the export folder"), path, null);
        var mode = DeepSeekOcrMode.Parse(modeOverride);
        if (mode.Crop)
            throw new UsageException(
                $"--mode {mode.Name}: tiles the image and needs the local-tile graph; give the export folder, not {path}");
        if (byReleasedSize is not null && byReleasedSize.Name != mode.Name)
            throw new UsageException(
                $"--mode {mode.Name}: needs {mode.BaseSize}-px images; {path} takes {size}-px images (mode {byReleasedSize.Name})");
        return new RunArtifact(path, mode with { BaseSize = size }, path, null);
    }

    private static (int Sam, int Patch) SamSize(JsonElement manifest)
    {
        if (manifest.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object
            && c.TryGetProperty("sam", out var sam) && sam.ValueKind == JsonValueKind.Object)
        {
            int Get(string k, int d) => sam.TryGetProperty(k, out var v) && v.TryGetInt32(out int i) ? i : d;
            return (Get("image_size", 1024), Get("patch_size", 16));
        }
        return (1024, 16);
    }

    private static IEnumerable<DeepSeekOcrMode> Scaled(int sam, int patch)
    {
        foreach (var m in DeepSeekOcrMode.All)
        {
            DeepSeekOcrMode? s = null;
            try
            {
                s = m.Scaled(sam, patch);
            }
            catch (Graphs.Ir.GraphException)
            {
                // A size that does not scale to this model: that mode cannot match it.
            }
            if (s is not null) yield return s;
        }
    }

    private static DeepSeekOcrMode? NonTilingModeOf(int size, int sam, int patch) =>
        Scaled(sam, patch).FirstOrDefault(m => !m.Crop && m.BaseSize == size);

    private static string ModeSizes(int sam, int patch) =>
        string.Join(", ", Scaled(sam, patch).Where(m => !m.Crop).Select(m => $"{m.Name} {m.BaseSize}"));
}
