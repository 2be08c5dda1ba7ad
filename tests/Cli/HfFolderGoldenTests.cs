using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Onnx;
using Xunit;

namespace ModelForge.Tests.Cli;

/// <summary>
/// The config readers checked numerically: a golden's tiny model is put in a folder with the same hyperparameters written
/// as the hub's config.json (each family's own field names, incl. the transformers-native InternVL form), exported with
/// no --arch and no --config, and the artifact must reproduce the ORIGINAL PyTorch outputs. A field the reader maps
/// wrongly changes a shape (refused) or the numbers (fails here).
/// </summary>
public class HfFolderGoldenTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "qwen2vl-tiny", """
            {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_size": 96,
             "vision_config": {"depth": 3, "embed_dim": 64, "num_heads": 4, "mlp_ratio": 4, "hidden_size": 96, "in_chans": 3,
               "spatial_patch_size": 14, "temporal_patch_size": 2, "spatial_merge_size": 2, "hidden_act": "quick_gelu"}}
            """ },
        { "internvl2-tiny", """
            {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5, "force_image_size": 56,
             "select_layer": -1, "ps_version": "v2",
             "vision_config": {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 256,
               "image_size": 56, "patch_size": 14, "qkv_bias": true, "qk_normalization": false, "norm_type": "layer_norm",
               "layer_norm_eps": 1e-06, "hidden_act": "gelu"},
             "llm_config": {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 96}}
            """ },
        { "internvit6b-tiny-hf", """
            {"architectures": ["InternVLForConditionalGeneration"], "model_type": "internvl", "downsample_ratio": 0.5,
             "vision_feature_layer": -1, "projector_hidden_act": "gelu",
             "vision_config": {"model_type": "internvl_vision", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
               "intermediate_size": 256, "image_size": [56, 56], "patch_size": [14, 14], "attention_bias": false,
               "use_qk_norm": true, "norm_type": "rms_norm", "layer_norm_eps": 1e-06, "hidden_act": "gelu"},
             "text_config": {"model_type": "qwen2", "hidden_size": 96}}
            """ },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_folder_with_a_hub_config_reproduces_the_golden(string fixture, string configJson)
    {
        using var tmp = new TempDir();
        string dir = tmp.File("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        File.Copy(Path.Combine(Repo.Golden(fixture), "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var run = Support.Cli.Run("export", "--checkpoint", dir, "--out", tmp.File("out"));
        run.ExitCode.Should().Be(0, run.ToString());

        using var golden = GoldenFixture.Load(Repo.Golden(fixture));
        using var manifest = JsonDocument.Parse(File.ReadAllText(tmp.File("out/manifest.json")));
        var config = manifest.RootElement.GetProperty("config");
        using var ort = new OrtRunner(tmp.File("out/model.onnx"));
        // Tiles of the config's own size (the export's default): the cases at that size.
        int compared = 0;
        foreach (var c in golden.Cases.Where(c => !c.Json.TryGetProperty("image_size", out var s) || s.GetInt32() == 56))
        {
            var calls = golden.Architecture.PlanCalls(config, c.Inputs);
            var outputs = golden.Architecture.CombineCalls(config, calls.Select(call => ort.Run(call)).ToList());
            foreach (var (name, expected) in c.Outputs)
            {
                outputs.Should().ContainKey(name);
                var got = outputs[name];
                got.Shape.Should().Equal(expected.Shape, $"{c.Name} {name}");
                float scale = Math.Max(1f, expected.Data.Max(Math.Abs));
                float maxAbs = got.Data.Zip(expected.Data, (a, b) => Math.Abs(a - b)).Max();
                maxAbs.Should().BeLessThan(1e-4f * scale, $"{fixture} {c.Name} {name}");
                compared++;
            }
        }
        compared.Should().BeGreaterThanOrEqualTo(2);
    }
}

/// <summary>`validate --checkpoint DIR` reads the folder like export does (family, config, key layout), without --arch.</summary>
public class HfFolderValidateTests
{
    [Fact]
    public void Validate_reads_a_transformers_native_folder_without_arch()
    {
        using var tmp = new TempDir();
        string dir = tmp.File("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"),
            (string)HfFolderGoldenTests.Cases.Single(c => (string)c[0] == "internvit6b-tiny-hf")[1]);
        File.Copy(Path.Combine(Repo.Golden("internvit6b-tiny-hf"), "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var r = Support.Cli.Run("validate", "--checkpoint", dir, "--inputs", "random", "--batch", "2");
        r.ExitCode.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("internvl2").And.Contain("PASS");
    }
}
