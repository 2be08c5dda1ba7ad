using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Graphs;

public class DeepEncoder2GraphTests
{
    private static Graph Global(DeepEncoder2Config? c = null) =>
        DeepEncoder2Builder.Build(c ?? DeepEncoder2Config.Default, new DeepEncoder2BuildOptions(1024));

    private static Graph Local(DeepEncoder2Config? c = null) =>
        DeepEncoder2Builder.Build(c ?? DeepEncoder2Config.Default, new DeepEncoder2BuildOptions(768, "T", Tiles: true));

    [Fact]
    public void Released_config_is_SAM_B_net3_896_and_Qwen2_0_5B_with_144_and_256_queries()
    {
        var c = DeepEncoder2Config.Default;
        (c.Sam.ImageSize, c.Sam.EmbedDim, c.Sam.Depth, c.Sam.Net2Channels, c.Sam.Net3Channels).Should().Be((1024, 768, 12, 512, 896));
        (c.Qwen2.NumLayers, c.Qwen2.HiddenSize, c.Qwen2.NumHeads, c.Qwen2.NumKvHeads, c.Qwen2.IntermediateSize)
            .Should().Be((24, 896, 14, 2, 4864));
        (c.Qwen2.ResolvedHeadDim, c.Qwen2.RmsNormEps, c.Qwen2.RopeTheta).Should().Be((64, 1e-6, 1e6));
        (c.Queries.Query768, c.Queries.Query1024, c.Projector.InputDim, c.Projector.OutputDim).Should().Be((144, 256, 896, 1280));
        (c.Views.BaseSize, c.Views.ImageSize, c.Views.MinCrops, c.Views.MaxCrops).Should().Be((1024, 768, 2, 6));
    }

    [Fact]
    public void Released_config_reads_the_released_encoder_parameters()
    {
        // Derived from the released module shapes (sam_vary_sdpa.py, qwen2_d2e.py defaults, deepseek_ocr2.py):
        // SAM-B with net_2/net_3: 95,569,152 with net_3 1024 wide (as counted in VaryGraphTests), less (1024-896)*512*9 = 589,824.
        const long sam = 95_569_152 - 589_824;
        // Qwen2-0.5B layer: q 896*896+896, k and v 128*896+128 each (2 KV heads * 64), o 896*896 (no bias), gate/up/down
        // 3*896*4864, two RMSNorms 2*896; 24 layers + final norm 896 = 357,898,112 (= Qwen2-0.5B's 494,032,768 less its
        // 151,936 x 896 embed_tokens, which the original deletes).
        const long layer = (896 * 896 + 896) + 2 * (128 * 896 + 128) + 896 * 896 + 3 * 896 * 4864 + 2 * 896;
        const long qwen2 = 24 * layer + 896;
        qwen2.Should().Be(494_032_768 - 151_936 * 896);
        const long queries = (144 + 256) * 896, projector = 896 * 1280 + 1280, separator = 1280;
        foreach (var g in new[] { Global(), Local() })
            g.ParameterCount.Should().Be(sam + qwen2 + queries + projector + separator).And.Be(454_385_280);
        Global().DeclaredWeights.Should().ContainKeys(
            "qwen2_model.model.model.layers.23.self_attn.k_proj.bias", "qwen2_model.model.model.norm.weight",
            "qwen2_model.query_768.weight", "qwen2_model.query_1024.weight", "projector.layers.weight", "view_seperator");
        Global().DeclaredWeights["qwen2_model.model.model.layers.0.self_attn.k_proj.weight"].Should().Be(Shape.Known(128, 896));
        Global().DeclaredWeights.Keys.Should()
            .NotContain(k => k.Contains("o_proj.bias") || k.Contains("embed_tokens") || k.Contains("image_newline"));
    }

    [Fact]
    public void Token_counts_are_257_without_crops_and_144k_plus_257_with_k_crops()
    {
        var global = Global();
        global.Inputs.Single().Shape.Should().Be(new Shape(1, 3, 1024, 1024));
        global.Outputs.Single(o => o.Name == "encoder").Shape.Should().Be(new Shape(1, 256, 896));
        global.Outputs.Single(o => o.Name == "image_tokens").Shape.Should().Be(new Shape(257, 1280));
        var local = Local();
        local.Inputs.Single().Shape.Should().Be(new Shape(Dim.Sym("T"), 3, 768, 768));
        local.Outputs.Single(o => o.Name == "projected").Shape.Should().Be(new Shape(Dim.Sym("T"), 144, 1280));
        local.Outputs.Should().NotContain(o => o.Name == "image_tokens");
        for (int k = 2; k <= 6; k++)
        {
            var image = DeepEncoder2Builder.Build(DeepEncoder2Config.Default, new DeepEncoder2BuildOptions(1024, Crops: k));
            image.Inputs.Select(i => (i.Name, i.Shape))
                .Should().Equal(("pixel_values", new Shape(1, 3, 1024, 1024)), ("images_crop", new Shape(k, 3, 768, 768)));
            image.Outputs.Single().Shape.Should().Be(new Shape(144 * k + 257, 1280));
            DeepSeekOcr2TokenLayout.TokenCount(256, 144, k).Should().Be(144 * k + 257);
        }
        DeepSeekOcr2TokenLayout.TokenCount(256, 144, 0).Should().Be(257);
    }

    [Fact]
    public void One_image_graph_reads_each_checkpoint_tensor_once_for_both_views()
    {
        var g = DeepEncoder2Builder.Build(DeepEncoder2Config.Default, new DeepEncoder2BuildOptions(1024, Crops: 2));
        var weights = g.Initializers.Where(i => i.Data is WeightData).Select(i => ((WeightData)i.Data).Key).ToList();
        weights.Should().OnlyHaveUniqueItems().And.Contain("sam_model.pos_embed")
            .And.Contain("qwen2_model.model.model.layers.0.mlp.up_proj.weight");
        g.ParameterCount.Should().Be(454_385_280);
        // The two views differ only in export-time constants: SAM's resized position table (64 -> 48) and the masks.
        g.Initializers.Select(i => i.Value.Name).Should().Contain(n => n.Contains("pos_embed.resized"));
        var b = new ModelForge.Graphs.Builder.GraphBuilder("t");
        b.Weight("w", 2, 3).Should().BeSameAs(b.Weight("w", 2, 3));
        b.Invoking(x => x.Weight("w", 3, 2)).Should().Throw<GraphException>().WithMessage("*'w' declared as [3, 2] and [2, 3]*");
    }

    [Fact]
    public void Mask_lets_visual_tokens_see_visual_tokens_and_query_i_see_visual_tokens_and_queries_up_to_i()
    {
        const float m = float.MinValue;
        DeepEncoder2Builder.MixedMask(3).Should().Equal(
            0, 0, 0, m, m, m,
            0, 0, 0, m, m, m,
            0, 0, 0, m, m, m,
            0, 0, 0, 0, m, m,
            0, 0, 0, 0, 0, m,
            0, 0, 0, 0, 0, 0);
        // finfo(dtype).min of the compute type stays finite when stored in that type.
        ((float)(Half)DeepEncoder2Builder.MaskValue(DataType.Float16)).Should().Be(-65504f);
        float.IsFinite(DataTypes.BFloat16ToSingle(
            (ushort)(BitConverter.SingleToUInt32Bits(DeepEncoder2Builder.MaskValue(DataType.BFloat16)) >> 16)))
            .Should().BeTrue();
        DeepEncoder2Builder.MaskValue(DataType.Float32).Should().Be(float.MinValue);
    }

    [Fact]
    public void Rotary_tables_are_the_float32_rope_of_positions_0_to_2n_minus_1()
    {
        var (cos, sin) = Qwen2Decoder.RotaryTables(32, 16, 1e6);
        cos.Length.Should().Be(32 * 16);
        for (int p = 0; p < 32; p++)
            for (int i = 0; i < 8; i++)
            {
                double angle = p / Math.Pow(1e6, 2.0 * i / 16);
                cos[p * 16 + i].Should().BeApproximately((float)Math.Cos(angle), 1e-6f);
                sin[p * 16 + i].Should().BeApproximately((float)Math.Sin(angle), 1e-6f);
                cos[p * 16 + i + 8].Should().Be(cos[p * 16 + i], "emb = cat(freqs, freqs)");
                sin[p * 16 + i + 8].Should().Be(sin[p * 16 + i]);
            }
    }

    [Fact]
    public void View_sizes_without_a_query_table_fail_with_the_size_named()
    {
        var c = DeepEncoder2Config.Default;
        foreach (var (size, tiles) in new[] { (768, false), (640, false), (1024, true), (1280, false) })
            c.Invoking(x => DeepEncoder2Builder.Build(x, new DeepEncoder2BuildOptions(size, Tiles: tiles)))
                .Should().Throw<GraphException>().WithMessage($"*size {size} gives*visual tokens*");
        c.Invoking(x => DeepEncoder2Builder.Build(x, new DeepEncoder2BuildOptions(1024, Crops: 1)))
            .Should().Throw<GraphException>().WithMessage("*min_crops 2*");
        c.Invoking(x => DeepEncoder2Builder.Build(x, new DeepEncoder2BuildOptions(1024, Crops: 7)))
            .Should().Throw<GraphException>().WithMessage("*max_crops*");
        (c with { Sam = c.Sam with { Net3Channels = 1024 } }).Invoking(x => x.Validate())
            .Should().Throw<GraphException>().WithMessage("*net3_channels 1024*qwen2.hidden_size 896*");
        (c with { Qwen2 = c.Qwen2 with { NumKvHeads = 3 } }).Invoking(x => x.Validate())
            .Should().Throw<GraphException>().WithMessage("*num_kv_heads 3*");
        (c with { Queries = new QueryTables { Query768 = 100 } }).Invoking(x => x.Validate())
            .Should().Throw<GraphException>().WithMessage("*views.image_size 768 must give 100*");
    }

    [Fact]
    public void Registered_with_modes_and_reads_fixture_json()
    {
        var arch = ArchitectureRegistry.Get("deepencoder2");
        arch.Modes.Should().Equal("gundam", "base");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Golden("deepencoder2-tiny"), "fixture.json")));
        var parts = arch.PlanMode(doc.RootElement, "gundam");
        parts.Select(p => (p.Name, p.Request.ImageSize, p.Request.Tiles)).Should().Equal(("global", 64, false), ("local", 48, true));
        arch.PlanMode(doc.RootElement, "base").Select(p => p.Name).Should().Equal("global");
        arch.Invoking(a => a.PlanMode(null, "large")).Should().Throw<GraphException>().WithMessage("*gundam, base*");
        var g = arch.Build(doc.RootElement, new BuildRequest(64));
        g.Outputs.Single(o => o.Name == "image_tokens").Shape.Should().Be(new Shape(17, 80));
        using var released = JsonDocument.Parse(arch.DefaultConfigJson);
        arch.Build(released.RootElement, new BuildRequest()).ParameterCount.Should()
            .Be(454_385_280, "the printed default config is the released one");
    }

    [Fact]
    public void Golden_checkpoint_is_identified_as_deepencoder2_and_binds_without_leftovers()
    {
        using var ckpt = Checkpoint.Open(Path.Combine(Repo.Golden("deepencoder2-tiny"), "model.safetensors"));
        FamilySignatures.Identify(ckpt.Tensors.Select(t => t.Name)).Should().Be("deepencoder2");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Golden("deepencoder2-tiny"), "fixture.json")));
        var arch = ArchitectureRegistry.Get("deepencoder2");
        foreach (var request in new[] { new BuildRequest(64), new BuildRequest(48, "T", Tiles: true), new BuildRequest(64, Crops: 2) })
            WeightBinder.Verify(arch.Build(doc.RootElement, request), ckpt, arch.Adapter);
        var other = ArchitectureRegistry.Get("deepencoder");
        other.Invoking(a => WeightBinder.Verify(a.Build(null, new BuildRequest(1024)), ckpt, a.Adapter))
            .Should().Throw<Exception>().WithMessage("*looks like a deepencoder2 checkpoint*");
    }
}
