using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ModelForge.Converters.Artifacts;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.HfConfig;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs;

/// <summary>
/// Every released variant of the four families: its graph built from its config.json fields at the REAL size (no weights),
/// the vision parameter count against a hand count, and the shapes against a header-only (sparse) checkpoint of the
/// released layout, read back through Checkpoint.Open + the resolver exactly as `export --checkpoint DIR` does.
/// </summary>
public class ReleasedVariantTests
{
    public static TheoryData<string> Names => new(ReleasedVariants.All.Select(v => v.Name));

    private static long Mlp1(long inDim, long p) => 2 * inDim + inDim * p + p + p * p + p;

    private static long QwenVit(long lm) => 629_678_080 + 1_505_280 + 2 * 1280 + (5120L * 5120 + 5120) + (5120 * lm + lm);

    // Hand counts. DeepEncoder: the release's 401,369,600 vision elements less CLIP's unused patch embedding (602,112) plus
    // image_newline and view_seperator (2 x 1280), see DeepEncoderGraphTests. Vary: SAM-B with net_2/net_3 95,569,152 +
    // HF CLIP-L/14 303,179,776 less post_layernorm + two projections. InternViT-300M: 304,012,288 (InternVl2GraphTests).
    // InternViT-6B-448px-V1-5: 45 x (qkv 3200x9600, proj 3200² + 3200, fc1/fc2 2 x 3200 x 12800 + 12800 + 3200, RMSNorm
    // weights norm1, norm2, q_norm, k_norm 4 x 3200, ls1/ls2 2 x 3200) = 45 x 122,918,400, + patch conv 3200x3x14x14 + 3200,
    // class 3200, positions 1025 x 3200 = 5,536,496,000. Qwen2-VL: 32 blocks 629,678,080 + patch 1,505,280 + merger.
    public static TheoryData<string, long> Counts => new()
    {
        { "deepseek-ai/DeepSeek-OCR", 401_369_600 - 602_112 + 2 * 1280 },
        { "deepseek-ai/DeepSeek-OCR-2", 454_385_280 },   // derived from the released shapes in DeepEncoder2GraphTests
        { "HaoranWei/Vary (Vary-base)", 95_569_152 + 303_179_776 - 2048 + 2 * (1024L * 2048 + 2048) },
        { "Ucas-HaoranWei/Vary-toy", 95_569_152 + 303_179_776 - 2048 + 2 * (1024L * 1024 + 1024) },
        { "OpenGVLab/InternVL2-1B", 304_012_288 + Mlp1(4096, 896) },
        { "OpenGVLab/InternVL2-2B", 304_012_288 + Mlp1(4096, 2048) },
        { "OpenGVLab/InternVL2-4B", 304_012_288 + Mlp1(4096, 3072) },
        { "OpenGVLab/InternVL2-8B", 304_012_288 + Mlp1(4096, 4096) },
        { "OpenGVLab/InternVL2-26B", 5_536_496_000 + Mlp1(12800, 6144) },
        { "OpenGVLab/InternVL2-40B", 5_536_496_000 + Mlp1(12800, 7168) },
        { "OpenGVLab/InternVL2-Llama3-76B", 5_536_496_000 + Mlp1(12800, 8192) },
        { "Qwen/Qwen2-VL-2B-Instruct", QwenVit(1536) },
        { "Qwen/Qwen2-VL-7B-Instruct", QwenVit(3584) },
        { "Qwen/Qwen2-VL-72B-Instruct", QwenVit(8192) },
    };

    [Fact]
    public void The_table_and_the_hand_counts_list_the_same_variants() =>
        ReleasedVariants.All.Select(v => v.Name).Should().BeEquivalentTo(Counts.Select(c => (string)c[0]));

    [Theory]
    [MemberData(nameof(Counts))]
    public void Each_variant_builds_from_its_config_with_the_released_vision_parameter_count(string name, long expected)
    {
        var v = ReleasedVariants.All.Single(x => x.Name == name);
        v.VisionParameters().Should().Be(expected);
        v.Resolve().Family.Should().Be(v.Family);
    }

    [Fact]
    public void Qwen2_vl_vit_is_675_8M_and_internvit_6b_is_5_5B()
    {
        long vit = 629_678_080 + 1_505_280 + 2 * 1280 + (5120L * 5120 + 5120) + (5120L * 3584 + 3584);
        vit.Should().Be(675_759_104);   // "675M" of the model card (the ViT incl. its merger to the 7B's 3584)
        (45L * 122_918_400 + 1_884_800 + 3200 + 1025L * 3200).Should().Be(5_536_496_000);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Full_size_graph_fits_a_header_only_checkpoint_of_the_released_layout(string name)
    {
        var v = ReleasedVariants.All.Single(x => x.Name == name);
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), v.ConfigJson);
        var resolvedHf = v.Resolve();
        var arch = ArchitectureRegistry.Get(v.Family);
        using var doc = JsonDocument.Parse(resolvedHf.Config.ToJsonString());
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        long bytes = HeaderOnlyCheckpoint.Write(tmp.Path, HeaderOnlyCheckpoint.ReleasedLayout(graph, arch.Adapter, v.Family));
        bytes.Should().BeGreaterThan(2 * graph.ParameterCount - 1, "bf16 data of every read tensor");

        // The folder as a user has it: no --arch, no --config.
        var resolved = ModelResolver.Resolve(tmp.Path, null, null);
        resolved.Architecture.Name.Should().Be(v.Family);
        resolved.FamilySource.Should().StartWith("config.json:");
        var rebuilt = resolved.Architecture.Build(resolved.Config, new BuildRequest());
        rebuilt.ParameterCount.Should().Be(graph.ParameterCount);
        using var ckpt = Checkpoint.Open(tmp.Path);
        WeightBinder.Verify(rebuilt, ckpt, resolved.Architecture.AdapterFor(resolved.Config));
    }

    [Theory]
    [InlineData("OpenGVLab/InternVL2-26B", "hf-model")]
    [InlineData("OpenGVLab/InternVL2-1B", "hf")]
    [InlineData("Qwen/Qwen2-VL-7B-Instruct", "model")]
    public void Renamed_layouts_of_transformers_are_read_through_the_same_adapters(string name, string layout)
    {
        var v = ReleasedVariants.All.Single(x => x.Name == name);
        var arch = ArchitectureRegistry.Get(v.Family);
        var cfg = v.Resolve().Config;
        cfg["checkpoint_layout"] = layout;
        using var doc = JsonDocument.Parse(cfg.ToJsonString());
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        var adapter = arch.AdapterFor(doc.RootElement);
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), v.ConfigJson);
        HeaderOnlyCheckpoint.Write(tmp.Path,
            HeaderOnlyCheckpoint.ReleasedLayout(graph, adapter, v.Family)
            .Where(e => !e.Name.StartsWith("language_model", StringComparison.Ordinal)).ToList());
        using (var ckpt = Checkpoint.Open(tmp.Path))
        {
            var names = ckpt.Tensors.Select(t => t.Name).ToArray();
            if (v.Family == "internvl2")
            {
                string p = layout == "hf-model" ? "model." : "";
                names.Should().Contain([$"{p}vision_tower.encoder.layer.0.attention.q_proj.weight",
                    $"{p}vision_tower.encoder.layer.0.lambda_1",
                    $"{p}vision_tower.encoder.layer.0.layernorm_before.weight", $"{p}vision_tower.embeddings.cls_token",
                    $"{p}vision_tower.embeddings.patch_embeddings.projection.weight", $"{p}multi_modal_projector.linear_2.weight"]);
                names.Should().NotContain(n => n.Contains(".qkv.", StringComparison.Ordinal));
            }
            else names.Should().Contain("model.visual.blocks.31.attn.qkv.weight");
        }
        // No hint given: the resolver finds the layout from the tensor names and says so.
        var resolved = ModelResolver.Resolve(tmp.Path, null, null);
        resolved.Sources["checkpoint_layout"].Should().Be("checkpoint keys");
        var rebuilt = resolved.Architecture.Build(resolved.Config, new BuildRequest());
        using var again = Checkpoint.Open(tmp.Path);
        WeightBinder.Verify(rebuilt, again, resolved.Architecture.AdapterFor(resolved.Config));
    }

    [Fact]
    public void A_checkpoint_cut_short_of_its_config_is_refused_with_the_tensors_named()
    {
        var v = ReleasedVariants.All.Single(x => x.Name == "Qwen/Qwen2-VL-2B-Instruct");
        var arch = ArchitectureRegistry.Get(v.Family);
        using var doc = JsonDocument.Parse(v.Resolve().Config.ToJsonString());
        var graph = arch.Build(doc.RootElement, new BuildRequest());
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), v.ConfigJson);
        HeaderOnlyCheckpoint.Write(tmp.Path, HeaderOnlyCheckpoint.ReleasedLayout(graph, arch.Adapter, v.Family)
            .Where(e => !e.Name.StartsWith("visual.blocks.31.", StringComparison.Ordinal)).ToList());
        var resolved = ModelResolver.Resolve(tmp.Path, null, null);
        using var ckpt = Checkpoint.Open(tmp.Path);
        var verify = () => WeightBinder.Verify(resolved.Architecture.Build(resolved.Config, new BuildRequest()), ckpt, arch.Adapter);
        verify.Should().Throw<CheckpointMismatchException>().WithMessage("*missing: visual.blocks.31.*");
    }
}
