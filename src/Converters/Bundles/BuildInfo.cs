using System.Reflection;

namespace ModelForge.Converters.Bundles;

/// <summary>
/// What build of ModelForge is running: version, git commit and ONNX Runtime flavour, embedded at build time as assembly
/// metadata (Directory.Build.targets runs `git rev-parse HEAD`; "unknown" without git). Bundle manifests record them.
/// </summary>
public static class BuildInfo
{
    private static string Metadata(string key) =>
        typeof(BuildInfo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == key)?.Value is { Length: > 0 } v ? v : "unknown";

    /// <summary>ModelForge's version (the ModelForgeVersion MSBuild property).</summary>
    public static string Version { get; } = Metadata("ModelForgeVersion");

    /// <summary>The git commit the binaries were built from, or "unknown".</summary>
    public static string GitCommit { get; } = Metadata("ModelForgeGitCommit");

    /// <summary>"cpu" (Microsoft.ML.OnnxRuntime) or "gpu" (Microsoft.ML.OnnxRuntime.Gpu.Linux), from -p:OrtFlavor.</summary>
    public static string OrtFlavor { get; } = Metadata("ModelForgeOrtFlavor");
}
