using FluentAssertions;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Onnx;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Converters.Targets;

/// <summary>The parts of one artifact (Gundam: global.onnx + local.onnx) reference ONE external-data file, written once.</summary>
public class SharedWeightsTests
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    private static Support.CliResult Export(string dir, string mode) => Support.Cli.Run("export", "--arch", "deepencoder",
        "--checkpoint", Path.Combine(Tiny, "model.safetensors"), "--config", Path.Combine(Tiny, "fixture.json"), "--mode", mode,
        "--external-data", "always", "--out", dir);

    [Fact]
    public void Gundam_parts_share_one_data_file_deterministically()
    {
        using var tmp = new TempDir();
        Export(tmp.File("a"), "gundam").ExitCode.Should().Be(0);
        Export(tmp.File("b"), "gundam").ExitCode.Should().Be(0);
        Export(tmp.File("base"), "base").ExitCode.Should().Be(0);

        Directory.GetFiles(tmp.File("a"), "*.data").Select(Path.GetFileName).Should().Equal(ExportPipeline.SharedDataFile);
        var global = OnnxModelReader.Read(tmp.File("a/global.onnx"));
        var local = OnnxModelReader.Read(tmp.File("a/local.onnx"));
        global.Initializers.Concat(local.Initializers).Where(i => i.Location is not null).Select(i => i.Location).Distinct()
            .Should().Equal(ExportPipeline.SharedDataFile);
        // A weight both parts read points at the same bytes.
        var shared = global.Initializers.Join(local.Initializers, g => g.Name, l => l.Name, (g, l) => (g, l)).ToArray();
        shared.Should().NotBeEmpty();
        shared.Where(p => p.g.Dims.SequenceEqual(p.l.Dims)).Should().OnlyContain(p => p.g.Offset == p.l.Offset);

        // Stored once: the shared file is barely larger than one part's weights (only grid-dependent tables differ).
        long sharedBytes = new FileInfo(tmp.File("a/" + ExportPipeline.SharedDataFile)).Length;
        long single = new FileInfo(tmp.File("base/global.onnx.data")).Length;
        sharedBytes.Should().BeLessThan(single * 6 / 5).And.BeGreaterThanOrEqualTo(single * 9 / 10);

        foreach (var f in new[] { "global.onnx", "local.onnx", ExportPipeline.SharedDataFile })
            File.ReadAllBytes(tmp.File("a/" + f))
                .Should().Equal(File.ReadAllBytes(tmp.File("b/" + f)), f + " is byte-identical on re-export");
        // The data file's hash in the manifest (computed while writing) is the file's hash.
        using (var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(tmp.File("a/manifest.json"))))
        {
            string recorded = manifest.RootElement.GetProperty("files").EnumerateArray()
                .Single(f => f.GetProperty("name").GetString() == ExportPipeline.SharedDataFile).GetProperty("sha256").GetString()!;
            using var stream = File.OpenRead(tmp.File("a/" + ExportPipeline.SharedDataFile));
            recorded.Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream)));
        }
        using var g = new ModelForge.Validators.Onnx.OrtRunner(tmp.File("a/global.onnx"));
        using var l = new ModelForge.Validators.Onnx.OrtRunner(tmp.File("a/local.onnx"));
    }
}
