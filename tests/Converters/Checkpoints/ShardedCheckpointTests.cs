using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using Xunit;
using static ModelForge.Tests.Converters.Checkpoints.SafetensorsTestFiles;

namespace ModelForge.Tests.Converters.Checkpoints;

public sealed class ShardedCheckpointTests : IDisposable
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";
    private readonly CheckpointTempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Two shards: a.w, a.b in shard 1; b.w (bf16) in shard 2.</summary>
    private void WriteShards()
    {
        SafetensorsWriter.Write(_dir.File(Shard1), [F32("a.w", [2, 2], 1, 2, 3, 4), F32("a.b", [2], 5, 6)]);
        SafetensorsWriter.Write(_dir.File(Shard2), [Tensor("b.w", DataType.BFloat16, [2], Bytes<ushort>(0x3F80, 0xC020))]);
    }

    private string WriteIndex(Dictionary<string, string> weightMap, string name = "model.safetensors.index.json")
    {
        string path = _dir.File(name);
        var doc = new { metadata = new { total_size = 26, format = "pt" }, weight_map = weightMap };
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
        return path;
    }

    private static Dictionary<string, string> GoodMap() => new()
    {
        ["a.w"] = Shard1,
        ["a.b"] = Shard1,
        ["b.w"] = Shard2,
    };

    [Fact]
    public void Sharded_folder_opens_and_reads_every_tensor()
    {
        WriteShards();
        WriteIndex(GoodMap());
        foreach (string path in new[] { _dir.Root, _dir.File("model.safetensors.index.json") })
        {
            using var c = Checkpoint.Open(path);
            c.Tensors.Select(t => t.Name).Should().Equal("a.b", "a.w", "b.w");
            c.ReadAsFloat32("a.w").Should().Equal(1f, 2f, 3f, 4f);
            c.ReadAsFloat32("b.w").Should().Equal(1f, -2.5f);
            c.Get("a.b").Shape.Should().Equal(2);
            c.FileOf("b.w").Should().Be(_dir.File(Shard2));
            c.FileOf("a.b").Should().Be(_dir.File(Shard1));
            c.Contains("zzz").Should().BeFalse();
        }
    }

    [Fact]
    public void Any_index_name_is_found_in_a_folder()
    {
        WriteShards();
        WriteIndex(GoodMap(), "diffusion_pytorch_model.safetensors.index.json");
        using var c = Checkpoint.Open(_dir.Root);
        c.Tensors.Should().HaveCount(3);
    }

    [Fact]
    public void Dispose_releases_every_shard()
    {
        WriteShards();
        WriteIndex(GoodMap());
        var c = Checkpoint.Open(_dir.Root);
        c.Dispose();
        // With the maps released the files can be replaced.
        SafetensorsWriter.Write(_dir.File(Shard1), [F32("a.w", [1], 9)]);
        c.Invoking(x => x.ReadAsFloat32("a.w")).Should().Throw<ObjectDisposedException>();
    }

    [Theory]
    [InlineData("../x.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/../../x.safetensors")]
    [InlineData("..")]
    [InlineData("")]
    public void Shard_escaping_the_folder_is_refused(string shard)
    {
        WriteShards();
        var map = GoodMap();
        map["b.w"] = shard;
        string index = WriteIndex(map);
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>()
            .WithMessage($"{index}: shard '{shard}' (holding tensor 'b.w') *refused*");
    }

    [Fact]
    public void Shard_symlink_escaping_the_folder_is_refused()
    {
        WriteShards();
        string outside = Path.Combine(Path.GetTempPath(), "mf-outside-" + Guid.NewGuid().ToString("N") + ".safetensors");
        File.Move(_dir.File(Shard2), outside);
        try
        {
            File.CreateSymbolicLink(_dir.File(Shard2), outside);
            string index = WriteIndex(GoodMap());
            var act = () => Checkpoint.Open(_dir.Root);
            act.Should().Throw<CheckpointFormatException>()
                .WithMessage($"{index}: shard '{Shard2}' (holding tensor 'b.w') is a link to {outside}, outside the index's folder " +
                    "(refused)");
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public void Shard_symlink_inside_the_folder_is_accepted()
    {
        WriteShards();
        File.Move(_dir.File(Shard2), _dir.File("real.bin"));
        File.CreateSymbolicLink(_dir.File(Shard2), "real.bin");
        WriteIndex(GoodMap());
        using var c = Checkpoint.Open(_dir.Root);
        c.ReadAsFloat32("b.w").Should().Equal(1f, -2.5f);
    }

    [Fact]
    public void Hugging_face_cache_layout_is_accepted()
    {
        // models--x/snapshots/<rev>/<file> -> ../../blobs/<hash>
        string repo = Path.Combine(_dir.Root, "models--x");
        string snapshot = Path.Combine(repo, "snapshots", "abc123");
        string blobs = Path.Combine(repo, "blobs");
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(blobs);
        SafetensorsWriter.Write(Path.Combine(blobs, "h1"), [F32("w", [1], 7)]);
        File.CreateSymbolicLink(Path.Combine(snapshot, Shard1), "../../blobs/h1");
        File.WriteAllText(Path.Combine(snapshot, "model.safetensors.index.json"), $"{{\"weight_map\":{{\"w\":\"{Shard1}\"}}}}");
        using var c = Checkpoint.Open(snapshot);
        c.ReadAsFloat32("w").Should().Equal(7f);
    }

    [Fact]
    public void Missing_shard_is_named()
    {
        WriteShards();
        File.Delete(_dir.File(Shard2));
        string index = WriteIndex(GoodMap());
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>().WithMessage($"{index}: shard '{Shard2}' (holding tensor 'b.w') is missing*");
    }

    [Fact]
    public void Tensor_in_weight_map_but_absent_from_its_shard()
    {
        WriteShards();
        var map = GoodMap();
        map["ghost"] = Shard2;
        string index = WriteIndex(map);
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>()
            .WithMessage($"{index}: tensor 'ghost' is listed in the weight_map for shard '{Shard2}', but that shard does not hold it*");
    }

    [Fact]
    public void Tensor_in_a_shard_but_not_in_weight_map()
    {
        WriteShards();
        var map = GoodMap();
        map.Remove("a.b");
        string index = WriteIndex(map);
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>()
            .WithMessage($"{index}: tensor 'a.b' is in shard '{Shard1}' but not in the weight_map*");
    }

    [Fact]
    public void Tensor_in_the_wrong_shard()
    {
        WriteShards();
        var map = GoodMap();
        map["a.b"] = Shard2;
        string index = WriteIndex(map);
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>()
            .WithMessage($"{index}: tensor 'a.b' is in shard '{Shard1}' but the weight_map puts it in '{Shard2}'*");
    }

    [Fact]
    public void Tensor_in_two_shards()
    {
        SafetensorsWriter.Write(_dir.File(Shard1), [F32("a.w", [1], 1), F32("dup", [1], 2)]);
        SafetensorsWriter.Write(_dir.File(Shard2), [F32("b.w", [1], 3), F32("dup", [1], 4)]);
        string index = WriteIndex(new() { ["a.w"] = Shard1, ["b.w"] = Shard2, ["dup"] = Shard2 });
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>().WithMessage($"{index}: tensor 'dup' is in two shards*");
    }

    [Theory]
    [InlineData("{\"metadata\":{}}", "index has no weight_map")]
    [InlineData("[]", "index is not a JSON object")]
    [InlineData("{\"weight_map\":[]}", "weight_map is not an object*")]
    [InlineData("{\"weight_map\":{\"a\":1}}", "tensor 'a': weight_map value is not a shard file name")]
    [InlineData("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", "tensor 'a' appears twice in the weight_map")]
    [InlineData("{\"weight_map\":{", "index is not valid JSON*")]
    public void Malformed_index(string json, string defect)
    {
        string index = _dir.File("model.safetensors.index.json");
        File.WriteAllText(index, json);
        var act = () => Checkpoint.Open(index);
        act.Should().Throw<CheckpointFormatException>().WithMessage($"{index}: {defect}");
    }

    [Fact]
    public void A_defect_inside_a_shard_names_the_shard()
    {
        WriteShards();
        WriteIndex(GoodMap());
        File.WriteAllBytes(_dir.File(Shard2), new byte[4]);
        var act = () => Checkpoint.Open(_dir.Root);
        act.Should().Throw<CheckpointFormatException>().WithMessage($"{_dir.File(Shard2)}: file is 4 bytes*");
    }
}
