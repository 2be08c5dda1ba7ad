using System.Text;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using Xunit;
using static ModelForge.Tests.Converters.Checkpoints.SafetensorsTestFiles;

namespace ModelForge.Tests.Converters.Checkpoints;

/// <summary>Every header defect is refused at Open with one line naming the file, the tensor and the defect.</summary>
public sealed class SafetensorsHeaderDefectTests : IDisposable
{
    private readonly CheckpointTempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private void ShouldRefuse(string path, string pattern, SafetensorsLimits? limits = null)
    {
        var act = () => SafetensorsFile.Open(path, limits).Dispose();
        var e = act.Should().Throw<CheckpointFormatException>().Which;
        e.Message.Should().StartWith(path + ": ");
        e.Message.Should().Match(pattern);
        e.Message.Should().NotContain("\n");
        e.FilePath.Should().Be(path);
        // The checkpoint front door reports the same defect.
        var viaCheckpoint = () => Checkpoint.Open(path, limits).Dispose();
        viaCheckpoint.Should().Throw<CheckpointFormatException>().WithMessage(pattern);
    }

    private string Raw(string header, int dataBytes) => WriteRaw(_dir.File("bad.safetensors"), header, dataBytes);

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void File_shorter_than_8_bytes(int length)
    {
        string path = _dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        ShouldRefuse(path, $"*short.safetensors: file is {length} bytes, shorter than*");
    }

    [Fact]
    public void Header_length_zero()
    {
        string path = WriteRaw(_dir.File("zero.safetensors"), [], new byte[16], declaredLength: 0);
        ShouldRefuse(path, "*zero.safetensors: header length is 0");
    }

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    [InlineData((100UL << 20) + 1)]
    public void Header_length_over_the_limit_is_refused_before_allocating(ulong declared)
    {
        string path = WriteRaw(_dir.File("huge.safetensors"), Encoding.UTF8.GetBytes("{}"), [], declared);
        ShouldRefuse(path, "*huge.safetensors: header length * exceeds the limit of*");
    }

    [Fact]
    public void Header_length_over_a_custom_limit()
    {
        string path = WriteRaw(_dir.File("big.safetensors"), Encoding.UTF8.GetBytes("{}      "), []);
        ShouldRefuse(path, "*big.safetensors: header length 8 exceeds the limit of 4 bytes", new SafetensorsLimits(MaxHeaderBytes: 4));
    }

    [Fact]
    public void Header_length_past_the_end_of_the_file()
    {
        string path = WriteRaw(_dir.File("trunc.safetensors"), Encoding.UTF8.GetBytes("{}"), [], declaredLength: 1000);
        ShouldRefuse(path, "*trunc.safetensors: header length 1000 runs past the end of the file*");
    }

    [Fact]
    public void Header_not_utf8()
    {
        string path = WriteRaw(_dir.File("bad.safetensors"), [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)'}'], []);
        ShouldRefuse(path, "*bad.safetensors: header is not valid UTF-8");
    }

    [Theory]
    [InlineData("{nope", "*not valid JSON*")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",}}", "*not valid JSON*")]
    [InlineData("{} x", "*not valid JSON*")]
    [InlineData("[1, 2]", "*header is not a JSON object")]
    [InlineData("\"text\"", "*header is not a JSON object")]
    public void Header_not_a_json_object(string header, string pattern) => ShouldRefuse(Raw(header, 0), "*bad.safetensors: " + pattern);

    [Fact]
    public void Json_nesting_deeper_than_the_limit()
    {
        string deep = "{\"x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1],\"extra\":" + new string('[', 80) + new string(']', 80)
            + "}}";
        ShouldRefuse(Raw(deep, 1), "*bad.safetensors: header JSON nesting is deeper than the limit of 64 levels");
    }

    [Fact]
    public void Json_nesting_limit_is_configurable()
    {
        string header = "{\"x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}";
        using (SafetensorsFile.Open(Raw(header, 1), new SafetensorsLimits(MaxJsonDepth: 3))) { }
        ShouldRefuse(Raw(header, 1), "*nesting is deeper than the limit of 2 levels", new SafetensorsLimits(MaxJsonDepth: 2));
    }

    [Theory]
    [InlineData("{\"__metadata__\":{\"a\":1}}", "*__metadata__ value of 'a' is not a string*")]
    [InlineData("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", "*__metadata__ value of 'a' is not a string*")]
    [InlineData("{\"__metadata__\":[\"a\"]}", "*__metadata__ is not a string-to-string object")]
    [InlineData("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", "*__metadata__ has a duplicate key 'a'")]
    [InlineData("{\"__metadata__\":{},\"__metadata__\":{}}", "*duplicate __metadata__*")]
    public void Metadata_not_string_to_string(string header, string pattern) => ShouldRefuse(Raw(header, 0), pattern);

    [Theory]
    [InlineData("F8_E4M3")]
    [InlineData("F8_E5M2")]
    [InlineData("U32")]
    [InlineData("f32")]
    public void Unsupported_dtype(string dtype) => ShouldRefuse(
        Raw($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":[1],\"data_offsets\":[0,1]}}}}", 1),
        $"*bad.safetensors: tensor 'w': dtype '{dtype}' is not supported (ModelForge reads F32, F16, BF16, *");

    [Theory]
    [InlineData("3")]
    [InlineData("\"2x2\"")]
    [InlineData("[-1]")]
    [InlineData("[1.5]")]
    [InlineData("[\"2\"]")]
    [InlineData("[[2]]")]
    [InlineData("[99999999999999999999]")]
    public void Shape_not_an_array_of_non_negative_integers(string shape) => ShouldRefuse(
        Raw($"{{\"w\":{{\"dtype\":\"U8\",\"shape\":{shape},\"data_offsets\":[0,1]}}}}", 1),
        "*tensor 'w': shape is not an array of non-negative integers*");

    [Fact]
    public void Rank_over_the_limit()
    {
        string ones = string.Join(",", Enumerable.Repeat("1", 17));
        ShouldRefuse(Raw($"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{ones}],\"data_offsets\":[0,1]}}}}", 1),
            "*tensor 'w': rank exceeds the limit of 16 dimensions");
    }

    [Theory]
    [InlineData("[4294967296,4294967296]", "U8")]
    [InlineData("[4611686018427387904]", "F32")]
    public void Element_count_overflow(string shape, string dtype) => ShouldRefuse(
        Raw($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[0,1]}}}}", 1),
        "*tensor 'w': element count of shape * overflows");

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0,1,2]")]
    [InlineData("3")]
    [InlineData("[-1,0]")]
    [InlineData("[0,\"1\"]")]
    public void Data_offsets_not_two_non_negative_integers(string offsets) => ShouldRefuse(
        Raw($"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{offsets}}}}}", 4),
        "*tensor 'w': data_offsets*");

    [Fact]
    public void Data_offsets_begin_after_end() => ShouldRefuse(
        Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,2]}}", 4),
        "*tensor 'w': data_offsets begin 3 is after end 2");

    [Fact]
    public void Data_offsets_end_beyond_the_data_section() => ShouldRefuse(
        Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3),
        "*tensor 'w': data_offsets end 4 is beyond the end of the data section (3 bytes*");

    [Fact]
    public void Data_length_does_not_match_shape_and_dtype() => ShouldRefuse(
        Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8),
        "*tensor 'w': data_offsets [0, 4] span 4 bytes, but shape [2] of F32 needs 8 (length mismatch)");

    [Fact]
    public void Overlapping_tensors() => ShouldRefuse(
        Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1]," +
            "\"data_offsets\":[2,6]}}", 8),
        "*tensor 'b': data overlaps tensor 'a'*");

    [Fact]
    public void Duplicate_tensor_names() => ShouldRefuse(
        Raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
            2),
        "*tensor 'w': duplicate tensor name in the header");

    [Fact]
    public void More_tensors_than_the_limit() => ShouldRefuse(
        Raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1," +
            "2]},\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}", 3),
        "*header has more than the limit of 2 tensors", new SafetensorsLimits(MaxTensors: 2));

    [Theory]
    [InlineData("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", "missing dtype")]
    [InlineData("{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", "missing shape")]
    [InlineData("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", "missing data_offsets")]
    [InlineData("{\"w\":[1]}", "entry is not a JSON object")]
    [InlineData("{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", "dtype is not a string")]
    public void Malformed_tensor_entry(string header, string defect) => ShouldRefuse(Raw(header, 1), $"*tensor 'w': {defect}");

    [Fact]
    public void Unknown_fields_in_an_entry_are_ignored()
    {
        string header = "{\"w\":{\"dtype\":\"U8\",\"extra\":{\"a\":[1]},\"shape\":[1],\"data_offsets\":[0,1]}}";
        using var f = SafetensorsFile.Open(Raw(header, 1));
        f.Get("w").Shape.Should().Equal(1);
    }
}
