using System.Text.Json;
using ModelForge.Converters.Bundles;
using ModelForge.Validators.Bundles;

namespace ModelForge.Cli.Commands;

/// <summary>`modelforge inspect BUNDLE_DIR`: what the bundle holds, then every file's SHA-256 against the manifest.</summary>
public static class BundleInspectCommand
{
    public static int Run(string dir)
    {
        try
        {
            return Print(dir);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // A manifest with the right format tag but missing or mistyped fields.
            throw new ArgumentException($"{Path.Combine(Path.GetFullPath(dir), BundleFiles.ManifestName)}: malformed ({e.Message})");
        }
    }

    private static int Print(string dir)
    {
        using var bundle = BundleReader.Open(dir);
        var m = bundle.Manifest;
        string Get(JsonElement e, params string[] path)
        {
            foreach (var p in path)
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(p, out e)) return "-";
            return e.ValueKind switch
            {
                JsonValueKind.String => e.GetString()!,
                JsonValueKind.Array => "[" + string.Join(", ", e.EnumerateArray()
                    .Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() : x.GetRawText())) + "]",
                _ => e.GetRawText(),
            };
        }
        Console.WriteLine($"{bundle.Dir}: {Get(m, "format")}, " +
            $"{Get(m, "architecture")}{(Get(m, "mode") is "-" or "null" ? "" : " mode " + Get(m, "mode"))}, "
            + $"target {Get(m, "target")}, TensorRT {Get(m, "tensorrt", "version_assumed")}.x, opset {Get(m, "tensorrt", "opset")}");
        Console.WriteLine($"  made by modelforge {Get(m, "tool", "version")} (commit {Get(m, "tool", "git_commit")})");
        Console.WriteLine($"  precision: requested {Get(m, "precision", "requested")}, ONNX {Get(m, "precision", "onnx_compute_dtype")}, " +
            $"engine {Get(m, "precision", "engine_precision")}");
        foreach (var a in bundle.Profiles) Console.WriteLine($"  profile {a.Key} = {a.Value}");
        foreach (var p in m.GetProperty("parts").EnumerateArray())
        {
            Console.WriteLine($"  part {Get(p, "name")}: {Get(p, "onnx")} -> {Get(p, "engine")}");
            foreach (var i in p.GetProperty("inputs").EnumerateArray())
                Console.WriteLine($"    input  {Get(i, "name")} {Get(i, "dtype")}{Get(i, "shape")} min {Get(i, "min")} opt " +
                    $"{Get(i, "opt")} max {Get(i, "max")}");
            foreach (var o in p.GetProperty("outputs").EnumerateArray())
                Console.WriteLine($"    output {Get(o, "name")} {Get(o, "dtype")}{Get(o, "shape")}");
        }
        Console.WriteLine($"  checkpoint: {Get(m, "checkpoint", "file")}, {Get(m, "checkpoint", "tensors_used")} tensors, " +
            $"sha256 {Get(m, "checkpoint", "sha256")}");
        Console.WriteLine($"  parity at export: " +
            $"{(Get(m, "parity", "passed") switch { "true" => "passed", "false" => "FAILED", _ => "not measured" })} " +
            $"({Get(m, "parity", "inputs")})");
        Console.WriteLine($"  engine: {Get(m, "engine", "status")}: {Get(m, "engine", "message")}");

        var (problems, unlisted) = BundleFiles.Verify(bundle.Dir, m);
        int files = m.GetProperty("files").GetArrayLength();
        foreach (var u in unlisted)
        {
            bool engine = u.StartsWith(TrtBuildPlan.EngineDir + "/", StringComparison.Ordinal);
            Console.WriteLine($"  not in the manifest: " +
                $"{u}{(engine ? " (built after export, e.g. by build_engine.sh; not verified)" : "")}");
        }
        if (problems.Count == 0)
        {
            Console.WriteLine($"  files: {files} verified (SHA-256 matches the manifest)");
            return ExitCodes.Ok;
        }
        foreach (var p in problems) Console.Error.WriteLine($"modelforge: bundle {bundle.Dir}: {p}");
        Console.WriteLine($"  files: {problems.Count} of {files} do NOT match the manifest");
        return ExitCodes.ParityFailed;
    }
}
