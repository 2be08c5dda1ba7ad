using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Converters.Checkpoints;

/// <summary>The reader against real files written by PyTorch's safetensors (the golden fixtures in the repository).</summary>
public sealed class GoldenFixtureCheckpointTests
{
    public static TheoryData<string> FixtureFiles()
    {
        var data = new TheoryData<string>();
        string root = Repo.Root;
        string golden = Path.Combine(root, "fixtures", "golden");
        if (!Directory.Exists(golden)) return data;
        foreach (string f in Directory.GetFiles(golden, "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(root, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Fixture_opens_reads_and_rewrites_identically(string relativePath)
    {
        string path = Path.Combine(Repo.Root, relativePath);
        using var original = Checkpoint.Open(path);
        original.Tensors.Should().NotBeEmpty();
        foreach (var t in original.Tensors)
        {
            original.GetBytes(t.Name).Length.Should().Be((int)t.ByteLength);
            original.ReadAsFloat32(t.Name).Length.Should().Be((int)t.ElementCount);
        }

        string copy = Path.Combine(Path.GetTempPath(), "mf-fixture-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            var source = SafetensorsFile.Open(original.FileOf(original.Tensors[0].Name));
            using (source)
            {
                SafetensorsWriter.Write(copy,
                    source.Tensors.Select(t => new WritableTensor(t.Name, t.DType, t.Shape, () => source.GetBytes(t.Name).ToArray())),
                    source.Metadata);
            }
            using var rewritten = SafetensorsFile.Open(copy);
            using var again = SafetensorsFile.Open(path);
            rewritten.Metadata.Should().BeEquivalentTo(again.Metadata);
            rewritten.Tensors.Should().BeEquivalentTo(again.Tensors, o => o.WithStrictOrdering());
            foreach (var t in again.Tensors)
                rewritten.GetBytes(t.Name).SequenceEqual(again.GetBytes(t.Name)).Should().BeTrue(t.Name);
        }
        finally
        {
            File.Delete(copy);
        }
    }
}
