using System.Security.Cryptography;
using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>`modelforge export` artifacts: deterministic bytes, a manifest that describes them, sharded whole-VLM input.</summary>
public class ExportTests
{
    private static readonly string Tiny = Repo.Golden("deepencoder-tiny");

    private static CliResult Export(string checkpoint, string outDir, params string[] extra) =>
        Support.Cli.Run(["export", "--arch", "deepencoder", "--checkpoint", checkpoint, "--config", Path.Combine(Tiny, "fixture.json"),
            "--out", outDir, .. extra]);

    [Theory]
    [InlineData("never")]
    [InlineData("always")]
    public void Exporting_twice_gives_byte_identical_artifacts(string external)
    {
        using var tmp = new TempDir();
        string ckpt = Path.Combine(Tiny, "model.safetensors");
        Export(ckpt, tmp.File("a"), "--external-data", external).ExitCode.Should().Be(0);
        Export(ckpt, tmp.File("b"), "--external-data", external).ExitCode.Should().Be(0);
        var files = Directory.GetFiles(tmp.File("a")).Select(Path.GetFileName).Order().ToArray();
        files.Should().Contain(external == "always" ? ["manifest.json", "model.onnx", "model.onnx.data"] : ["manifest.json", "model.onnx"]);
        Directory.GetFiles(tmp.File("b")).Select(Path.GetFileName).Order().Should().Equal(files);
        foreach (var f in files)
            File.ReadAllBytes(Path.Combine(tmp.File("a"), f!)).Should().Equal(File.ReadAllBytes(Path.Combine(tmp.File("b"), f!)), f);

        using var manifest = JsonDocument.Parse(File.ReadAllText(tmp.File("a/manifest.json")));
        foreach (var entry in manifest.RootElement.GetProperty("files").EnumerateArray())
        {
            string path = Path.Combine(tmp.File("a"), entry.GetProperty("name").GetString()!);
            new FileInfo(path).Length.Should().Be(entry.GetProperty("bytes").GetInt64());
            Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))).Should().Be(entry.GetProperty("sha256").GetString());
        }
    }

    [Fact]
    public void A_sharded_whole_vlm_checkpoint_reads_only_the_vision_tensors()
    {
        // Re-shard the tiny checkpoint into two files with an index, plus language-model tensors the encoder must ignore.
        using var tmp = new TempDir();
        using (var src = ModelForge.Converters.Checkpoints.Checkpoint.Open(Path.Combine(Tiny, "model.safetensors")))
        {
            var names = src.Tensors.Select(t => t.Name).ToArray();
            var halves = new[] { names[..(names.Length / 2)], names[(names.Length / 2)..] };
            var map = new Dictionary<string, string>();
            for (int s = 0; s < 2; s++)
            {
                string file = $"model-0000{s + 1}-of-00002.safetensors";
                var tensors = halves[s].Select(n =>
                {
                    var info = src.Get(n);
                    var bytes = src.GetBytes(n).ToArray();
                    return new ModelForge.Converters.Checkpoints.WritableTensor(n, info.DType, info.Shape, () => bytes);
                }).ToList();
                if (s == 1) tensors.Add(new("model.layers.0.self_attn.q_proj.weight", ModelForge.Graphs.Ir.DataType.Float32, [4, 4],
                    () => new byte[64]));
                ModelForge.Converters.Checkpoints.SafetensorsWriter.Write(tmp.File(file), tensors);
                foreach (var t in tensors) map[t.Name] = file;
            }
            File.WriteAllText(tmp.File("model.safetensors.index.json"),
                JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        }
        var sharded = Export(tmp.Path, tmp.File("from-shards"));
        sharded.ExitCode.Should().Be(0, sharded.ToString());
        Export(Path.Combine(Tiny, "model.safetensors"), tmp.File("from-file")).ExitCode.Should().Be(0);
        File.ReadAllBytes(tmp.File("from-shards/model.onnx")).Should().Equal(File.ReadAllBytes(tmp.File("from-file/model.onnx")));
    }
}
