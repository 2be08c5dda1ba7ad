using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Tools;
using Xunit;

namespace ModelForge.Tests.Tools;

/// <summary>
/// The C# port of synth_deepencoder_full.py must be bit-exact. Expected values below were produced by running the
/// Python script (python 3.11, zlib 1.2.13) and printing its intermediate values.
/// </summary>
public class SyntheticCheckpointTests
{
    private const long VisionParams = 401369600;

    [Fact]
    public void Shapes_table_matches_the_python()
    {
        var single = SyntheticDeepEncoderCheckpoint.TensorShapes(single: true);
        single.Should().HaveCount(476);
        SyntheticDeepEncoderCheckpoint.VisionParameterCount(single).Should().Be(VisionParams);
        SyntheticDeepEncoderCheckpoint.Numel(single["model.vision_model.embeddings.patch_embedding.weight"]).Should().Be(602112);
        single.Should().NotContainKey("lm_head.weight");

        var sharded = SyntheticDeepEncoderCheckpoint.TensorShapes(single: false);
        sharded.Should().HaveCount(479);
        SyntheticDeepEncoderCheckpoint.VisionParameterCount(sharded).Should().Be(VisionParams);
        sharded["lm_head.weight"].Should().Equal(129280, 1280);
    }

    [Theory]
    // fan -> round(1.7 / fan ** 0.5, 4) as Python prints it, for every fan that occurs.
    [InlineData(1, 1.7)]
    [InlineData(64, 0.2125)]
    [InlineData(588, 0.0701)]
    [InlineData(768, 0.0613)]
    [InlineData(1024, 0.0531)] // 0.053125 exactly: not a midpoint at 4 digits
    [InlineData(1280, 0.0475)]
    [InlineData(2048, 0.0376)]
    [InlineData(2304, 0.0354)]
    [InlineData(3072, 0.0307)]
    [InlineData(4096, 0.0266)]
    [InlineData(4608, 0.025)]
    [InlineData(3145728, 0.001)]
    public void Scale_rounding_matches_python_round(long fan, double expected) =>
        SyntheticDeepEncoderCheckpoint.PyRound(1.7 / Math.Pow(fan, 0.5), 4).Should().Be(expected);

    [Fact]
    public void Python_round_is_half_even_on_the_exact_binary_value()
    {
        SyntheticDeepEncoderCheckpoint.PyRound(0.5, 0).Should().Be(0.0);
        SyntheticDeepEncoderCheckpoint.PyRound(2.5, 0).Should().Be(2.0);
        SyntheticDeepEncoderCheckpoint.PyRound(2.675, 2).Should().Be(2.67); // 2.675 is stored just below the midpoint
        SyntheticDeepEncoderCheckpoint.PyRound(-0.00015, 4).Should().Be(-0.0001); // round(-0.00015, 4) == -0.0001 in Python
    }

    [Fact]
    public void First_block_values_match_the_python()
    {
        // bf16(0.05 * ((s >> 8) / 4194304.0 - 1.0)) for the first 8 LCG states from seed 17 (the first kind's seed).
        ushort[] expected = [0x3cc1, 0x3a07, 0xbc55, 0xbcae, 0xbc22, 0x3c7d, 0xbd23, 0xbcee];
        var b = SyntheticDeepEncoderCheckpoint.Block(0.05, 0.0, 17);
        b.Should().HaveCount(2 << 20);
        Enumerable.Range(0, 8).Select(i => (ushort)(b[2 * i] | b[2 * i + 1] << 8)).Should().Equal(expected);
    }

    [Fact]
    public void Png_pixels_are_the_python_pattern()
    {
        using var dir = new TempDir();
        var path = dir.File("page.png");
        SyntheticDeepEncoderCheckpoint.WritePng(path, 40, 30);
        var bytes = File.ReadAllBytes(path);
        bytes.AsSpan(0, 8).ToArray().Should().Equal(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
        // IHDR at 8, IDAT follows it at 8 + 12 + 13.
        var idatLen = bytes[33] << 24 | bytes[34] << 16 | bytes[35] << 8 | bytes[36];
        Encoding.ASCII.GetString(bytes, 37, 4).Should().Be("IDAT");
        using var z = new ZLibStream(new MemoryStream(bytes, 41, idatLen), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        raw.ToArray().Should().Equal(SyntheticDeepEncoderCheckpoint.PngRawScanlines(40, 30));
        var row7 = 7 * (1 + 3 * 40);
        raw.ToArray().AsSpan(row7 + 1 + 3 * 13, 3).ToArray().Should().Equal((byte)(13 * 255 / 40), (byte)(7 * 255 / 30), (byte)(13 ^ 7));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Single_file_checkpoint_is_bit_exact()
    {
        // ~800 MB, written once per test run and shared with the released-size tests; its md5 is checked when written.
        string dir = SharedSyntheticCheckpoint.Directory;
        var path = SharedSyntheticCheckpoint.File;
        Directory.GetFiles(dir).Should().Equal(path); // no temp file left behind
        using (var f = File.OpenRead(path))
            Convert.ToHexStringLower(MD5.HashData(f)).Should().Be(SyntheticDeepEncoderCheckpoint.SingleFileMd5);
        // The file also holds model.image_newline / model.view_seperator, which are not counted as vision params.
        var all = SyntheticDeepEncoderCheckpoint.TensorShapes(single: true).Values.Sum(SyntheticDeepEncoderCheckpoint.Numel);
        all.Should().Be(VisionParams + 2 * 1280);
        new FileInfo(path).Length.Should().Be(8 + HeaderLength(path) + 2 * all);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Sharded_checkpoint_is_bit_exact()
    {
        // ~1.4 GB on disk: the language-model tensors exercise the repeated-block path and the shared seed order.
        using var dir = new TempDir();
        SyntheticDeepEncoderCheckpoint.WriteSharded(dir.Path);
        string Md5(string name)
        {
            using var f = File.OpenRead(Path.Combine(dir.Path, name));
            return Convert.ToHexStringLower(MD5.HashData(f));
        }
        Md5(SyntheticDeepEncoderCheckpoint.ShardFileNames[0]).Should().Be("7ed227818afe45710e6010c585bb3802");
        Md5(SyntheticDeepEncoderCheckpoint.ShardFileNames[1]).Should().Be("27a7df52c88b1e20bde01d45f4a7fb20");
        Md5(SyntheticDeepEncoderCheckpoint.IndexFileName).Should().Be("db1204a1cb80a3cbd23333c8271ae373");
        // The PNG's deflate stream may differ from Python's zlib; its pixels are checked in Png_pixels_are_the_python_pattern.
        File.Exists(Path.Combine(dir.Path, SyntheticDeepEncoderCheckpoint.PngFileName)).Should().BeTrue();
    }

    private static long HeaderLength(string path)
    {
        using var f = File.OpenRead(path);
        var b = new byte[8];
        f.ReadExactly(b);
        return BitConverter.ToInt64(b);
    }
}
