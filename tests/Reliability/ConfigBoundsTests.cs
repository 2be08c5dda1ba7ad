using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.3 / 8.7: a config describing an absurd model is refused from its numbers alone (parameter count and the largest
/// activation, estimated per family), naming the field, in under 1 s and 200 MB; duplicate keys, negative eps and
/// non-integer dimensions are refused naming the field, never "could not be converted to System...".
/// </summary>
public sealed class ConfigBoundsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static JsonElement Config(string fixture, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.Golden(fixture), "fixture.json")))!.AsObject();
        edit(node);
        return JsonDocument.Parse(node.ToJsonString()).RootElement;
    }

    public static TheoryData<string, string, string, string> Absurd => new()
    {
        // fixture, JSON path, value, field the message must name
        { "deepencoder-tiny", "sam.depth", "100000", "sam.depth" },
        { "deepencoder-tiny", "clip.num_layers", "1000000", "clip.num_layers" },
        { "deepencoder-tiny", "clip.ffn_hidden_size", "2000000000", "clip.ffn_hidden_size" },
        { "vary-tiny", "clip.num_layers", "1000000", "clip.num_layers" },
        { "internvl2-tiny", "vit.num_layers", "1000000", "vit.num_layers" },
        { "internvl2-tiny", "vit.ffn_hidden_size", "2000000000", "vit.ffn_hidden_size" },
        { "qwen2vl-tiny", "vit.depth", "100000", "vit.depth" },
        { "qwen2vl-tiny", "vit.embed_dim", "1048576", "vit.embed_dim" },
        { "deepencoder2-tiny", "qwen2.num_layers", "100000", "qwen2.num_layers" },
        { "deepencoder2-tiny", "qwen2.intermediate_size", "2000000000", "qwen2.intermediate_size" },
        { "deepencoder2-tiny", "sam.depth", "100000", "sam.depth" },
    };

    private static void Set(JsonObject root, string path, string value)
    {
        var parts = path.Split('.');
        var obj = root;
        foreach (var p in parts[..^1]) obj = obj[p]!.AsObject();
        obj[parts[^1]] = JsonNode.Parse(value);
    }

    [Theory]
    [MemberData(nameof(Absurd))]
    public void Absurd_sizes_are_refused_from_the_numbers_alone(string fixture, string path, string value, string field)
    {
        var config = Config(fixture, c => Set(c, path, value));
        var arch = ArchitectureRegistry.Get(config.GetProperty("architecture").GetString()!);
        GC.Collect();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var act = () => arch.Build(config, arch.RequestForCase(config.GetProperty("cases")[0]));
        act.Should().Throw<GraphException>().Which.Message.Should().Contain(field).And.Contain("limit");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Counts.WriteLine(output, $"config {fixture} {path}={value}: refused in {clock.Elapsed.TotalMilliseconds:F1} ms, " +
            $"{allocated / 1024.0:F0} KiB allocated");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1));
        allocated.Should().BeLessThan(200L << 20);
    }

    [Fact]
    public void The_cli_refuses_an_absurd_config_quickly_with_one_line()
    {
        using var tmp = new TempDir();
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.Golden("deepencoder-tiny"), "fixture.json")))!.AsObject();
        Set(node, "sam.depth", "100000");
        File.WriteAllText(tmp.File("huge.json"), node.ToJsonString());
        var r = Support.Cli.Run(TimeSpan.FromSeconds(60), "export", "--arch", "deepencoder", "--checkpoint",
            Path.Combine(Repo.Golden("deepencoder-tiny"), "model.safetensors"), "--config", tmp.File("huge.json"), "--out", tmp.File("o"));
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("sam.depth");
    }

    public static TheoryData<string, string, string, string> Malformed => new()
    {
        { "deepencoder-tiny", "sam.layer_norm_eps", "-1e-6", "sam.layer_norm_eps" },
        { "deepencoder-tiny", "clip.layer_norm_eps", "-1e-5", "clip.layer_norm_eps" },
        { "deepencoder-tiny", "sam.depth", "2.5", "sam.depth" },
        { "deepencoder-tiny", "clip.hidden_size", "\"64\"", "clip.hidden_size" },
        { "vary-tiny", "clip.layer_norm_eps", "0", "clip.layer_norm_eps" },
        { "vary-tiny", "sam.embed_dim", "1.5", "sam.embed_dim" },
        { "internvl2-tiny", "vit.layer_norm_eps", "-1", "vit.layer_norm_eps" },
        { "internvl2-tiny", "vit.num_layers", "3.5", "vit.num_layers" },
        { "qwen2vl-tiny", "vit.depth", "1.5", "vit.depth" },
        { "deepencoder2-tiny", "qwen2.num_layers", "2.5", "qwen2.num_layers" },
        { "deepencoder2-tiny", "sam.layer_norm_eps", "-1", "sam.layer_norm_eps" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Bad_field_values_are_refused_naming_the_field(string fixture, string path, string value, string field)
    {
        var config = Config(fixture, c => Set(c, path, value));
        var arch = ArchitectureRegistry.Get(config.GetProperty("architecture").GetString()!);
        var act = () => arch.Build(config, arch.RequestForCase(config.GetProperty("cases")[0]));
        var message = act.Should().Throw<GraphException>().Which.Message;
        message.Should().Contain(field).And.NotContain("System.").And.NotContain("Parameter '");
    }

    [Fact]
    public void Duplicate_keys_in_a_config_are_refused()
    {
        using var tmp = new TempDir();
        string text = File.ReadAllText(Path.Combine(Repo.Golden("deepencoder-tiny"), "fixture.json"));
        // A second "sam" object: which one wins is up to the parser, so neither may be used.
        File.WriteAllText(tmp.File("dup.json"),
            text.Replace("\"sam\": {", "\"sam\": {\"depth\": 2, \"depth\": 3, ", StringComparison.Ordinal));
        var r = Support.Cli.Run(TimeSpan.FromSeconds(60), "export", "--arch", "deepencoder", "--checkpoint",
            Path.Combine(Repo.Golden("deepencoder-tiny"), "model.safetensors"), "--config", tmp.File("dup.json"), "--out", tmp.File("o"));
        r.ExitCode.Should().Be(2, r.ToString());
        r.Errors.Trim().Split('\n')
            .Should().ContainSingle().Which.Should().Contain("dup.json").And.ContainEquivalentOf("duplicate").And.Contain("depth");
        // The same in a fixture folder's fixture.json.
        string fx = tmp.File("fx");
        Directory.CreateDirectory(fx);
        foreach (var f in Directory.GetFiles(Repo.Golden("deepencoder-tiny"))) File.Copy(f, Path.Combine(fx, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(fx, "fixture.json"),
            text.Replace("\"architecture\":", "\"architecture\": \"vary\", \"architecture\":", StringComparison.Ordinal));
        var v = Support.Cli.Run(TimeSpan.FromSeconds(60), "validate", "--fixture", fx, "--paths", "exported");
        v.ExitCode.Should().Be(2, v.ToString());
        v.Stderr.Should().Contain("fixture.json").And.ContainEquivalentOf("duplicate");
    }
}
