using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.9: `run` loads only what the manifest vouches for: every file it names is a plain name inside the artifact
/// folder (after links), listed in "files" with the size and sha256 found on disk, checked before ONNX Runtime sees it.
/// </summary>
public sealed class ManifestTrustTests : IClassFixture<ManifestTrustTests.Artifact>
{
    private readonly Artifact _artifact;

    public ManifestTrustTests(Artifact artifact) => _artifact = artifact;

    /// <summary>One tiny-mode export with external data, copied per test.</summary>
    public sealed class Artifact : IDisposable
    {
        public TempDir Dir { get; } = new();

        public string Path => Dir.File("art");

        public Artifact()
        {
            var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint",
                Repo.Golden("deepencoder-tiny") + "/model.safetensors",
                "--config", Repo.Golden("deepencoder-tiny") + "/fixture.json", "--mode", "tiny", "--external-data", "always", "--out",
                    Path);
            if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString());
        }

        public void Dispose() => Dir.Dispose();
    }

    private static readonly string Image = Repo.Fixture("golden", "preprocess", "small_300x200.png");

    private string Copy(TempDir tmp, string name = "copy")
    {
        string dest = tmp.File(name);
        Directory.CreateDirectory(dest);
        foreach (var f in Directory.GetFiles(_artifact.Path)) File.Copy(f, System.IO.Path.Combine(dest, System.IO.Path.GetFileName(f)));
        return dest;
    }

    private static void EditManifest(string dir, Action<JsonObject> edit)
    {
        string path = System.IO.Path.Combine(dir, "manifest.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    private static CliResult Run(string dir, TempDir tmp) =>
        Support.Cli.Run(TimeSpan.FromSeconds(90), "run", "--onnx", dir, "--image", Image, "--out", tmp.File("tokens.safetensors"));

    private static void ShouldRefuse(CliResult r, params string[] mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        foreach (var m in mentions) lines[0].Should().Contain(m, r.ToString());
        lines[0].Should().NotContain("same key");
    }

    [Fact]
    public void The_untouched_artifact_runs()
    {
        using var tmp = new TempDir();
        var r = Run(Copy(tmp), tmp);
        r.ExitCode.Should().Be(0, r.ToString());
    }

    [Fact]
    public void A_part_file_outside_the_folder_is_refused()
    {
        using var tmp = new TempDir();
        string dir = Copy(tmp);
        File.Copy(System.IO.Path.Combine(dir, "global.onnx"), tmp.File("outside.onnx"));
        EditManifest(dir, m => m["parts"]![0]!["file"] = "../outside.onnx");
        ShouldRefuse(Run(dir, tmp), "manifest.json", "../outside.onnx");
        EditManifest(dir, m => m["parts"]![0]!["file"] = tmp.File("outside.onnx"));
        ShouldRefuse(Run(dir, tmp), "manifest.json", "outside.onnx");
    }

    [Fact]
    public void A_symlink_leading_out_of_the_folder_is_refused()
    {
        using var tmp = new TempDir();
        string dir = Copy(tmp);
        File.Move(System.IO.Path.Combine(dir, "global.onnx"), tmp.File("elsewhere.onnx"));
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "global.onnx"), tmp.File("elsewhere.onnx"));
        ShouldRefuse(Run(dir, tmp), "global.onnx", "outside");
    }

    [Fact]
    public void A_changed_or_truncated_file_is_refused_before_loading()
    {
        using var tmp = new TempDir();
        string dir = Copy(tmp);
        string data = System.IO.Path.Combine(dir, "global.onnx.data");
        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(data, bytes);
        ShouldRefuse(Run(dir, tmp), "global.onnx.data", "sha256");
        File.WriteAllBytes(data, bytes[..(bytes.Length / 2)]);
        ShouldRefuse(Run(dir, tmp), "global.onnx.data", "bytes");
    }

    [Fact]
    public void A_part_or_external_file_the_manifest_does_not_list_is_refused()
    {
        using var tmp = new TempDir();
        string dir = Copy(tmp);
        EditManifest(dir, m =>
        {
            var files = m["files"]!.AsArray();
            var data = files.First(f => f!["name"]!.GetValue<string>() == "global.onnx.data");
            files.Remove(data);
        });
        ShouldRefuse(Run(dir, tmp), "global.onnx.data", "not listed");
    }

    [Fact]
    public void Duplicate_parts_and_wrong_formats_are_one_line()
    {
        using var tmp = new TempDir();
        string dir = Copy(tmp);
        EditManifest(dir, m => m["parts"]!.AsArray().Add(m["parts"]![0]!.DeepClone()));
        ShouldRefuse(Run(dir, tmp), "manifest.json", "global");
        string other = Copy(tmp, "other");
        EditManifest(other, m => m["format"] = "something/1");
        ShouldRefuse(Run(other, tmp), "manifest.json", "format");
        string dup = Copy(tmp, "dupkey");
        File.WriteAllText(System.IO.Path.Combine(dup, "manifest.json"),
            File.ReadAllText(System.IO.Path.Combine(dup, "manifest.json")).Replace("\"mode\":", "\"mode\": \"gundam\", \"mode\":"));
        ShouldRefuse(Run(dup, tmp), "manifest.json", "mode");
    }
}
