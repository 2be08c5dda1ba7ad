using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Compare;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures.Qwen25Vl;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Converters.Images;

/// <summary>
/// The token rules of `modelforge compare` against the original processors' own decisions in
/// fixtures/golden/preprocess/tiling.json (DeepSeek-OCR count_tiles, InternVL dynamic_preprocess, Qwen2-VL smart_resize).
/// </summary>
public sealed class TokenRuleTests
{
    private static readonly JsonElement Tiling = JsonDocument.Parse(File.ReadAllText(Repo.Golden("preprocess/tiling.json"))).RootElement;

    private static ComparedFamily Entry(string id) => ComparedFamilies.All.Single(f => f.Id == id);

    [Theory]
    [InlineData("deepencoder-tiny", 73)]
    [InlineData("deepencoder-small", 111)]
    [InlineData("deepencoder-base", 273)]
    [InlineData("deepencoder-large", 421)]
    public void DeepSeek_OCR_fixed_modes_give_the_released_token_counts(string id, long tokens)
    {
        foreach (var (w, h) in new[] { (300, 200), (1024, 1024), (4096, 4096) })
            Entry(id).Plan(w, h).Tokens.Should().Be(tokens);
    }

    [Fact]
    public void Gundam_follows_count_tiles_of_the_original_processor()
    {
        int checkedCount = 0;
        foreach (var e in Tiling.GetProperty("deepseek_ocr_tiles").EnumerateArray())
        {
            int w = e.GetProperty("width").GetInt32(), h = e.GetProperty("height").GetInt32(), max = e.GetProperty("max_num").GetInt32();
            if (e.GetProperty("image_size").GetInt32() != 640 || e.GetProperty("min_num").GetInt32() != 2) continue;
            var entry = Entry(max == 6 ? "deepencoder-gundam"
                : max == 9 ? "deepencoder-gundam-9" : throw new InvalidDataException($"max_num {max}"));
            int cols = e.GetProperty("grid")[0].GetInt32(), rows = e.GetProperty("grid")[1].GetInt32();
            var plan = entry.Plan(w, h);
            if (w <= 640 && h <= 640)
            {
                plan.Tokens.Should().Be(273, $"{w}x{h} is not tiled (both sides <= 640)");
                continue;
            }
            // 10x10 tokens per 640 tile: rows*10 lines of cols*10 tokens + a newline each, then the 1024 global view.
            plan.Tokens.Should().Be(rows * 10 * (cols * 10 + 1) + 273, $"{w}x{h} max {max}: grid {cols}x{rows}");
            plan.Runs.Single(r => r.Part == "local").Bindings["T"].Should().Be(cols * rows);
            checkedCount++;
        }
        checkedCount.Should().BeGreaterThan(100);
        Entry("deepencoder-gundam").Plan(800, 1024).Tokens.Should().Be(903, "tiling.json: 800x1024 -> grid 2x3");
    }

    [Fact]
    public void InternVL2_follows_dynamic_preprocess_with_thumbnail()
    {
        int n = 0;
        foreach (var e in Tiling.GetProperty("internvl_tiles").EnumerateArray())
        {
            e.GetProperty("max_num").GetInt32().Should().Be(ComparedFamilies.InternVlMaxTiles);
            int w = e.GetProperty("width").GetInt32(), h = e.GetProperty("height").GetInt32(), tiles = e.GetProperty("tiles").GetInt32();
            var plan = Entry("internvl2").Plan(w, h);
            plan.Tokens.Should().Be(tiles * 256L, $"{w}x{h}: {tiles} tiles of 256 tokens");
            plan.Runs.Single().Bindings["B"].Should().Be(tiles);
            n++;
        }
        n.Should().Be(80);
    }

    [Fact]
    public void Qwen2_VL_follows_smart_resize()
    {
        int released = 0;
        foreach (var e in Tiling.GetProperty("qwen2vl_smart_resize").EnumerateArray())
        {
            int w = e.GetProperty("width").GetInt32(), h = e.GetProperty("height").GetInt32();
            int min = e.GetProperty("min_pixels").GetInt32(), max = e.GetProperty("max_pixels").GetInt32();
            Qwen2VlSmartResize.Resize(h, w, 28, min, max).Should().Be(
                (e.GetProperty("resized_height").GetInt32(), e.GetProperty("resized_width").GetInt32()), $"{w}x{h} [{min}, {max}]");
            Qwen2VlSmartResize.Tokens(h, w, 14, 2, min, max).Should().Be(e.GetProperty("tokens").GetInt32());
            if (max == Qwen2VlSmartResize.ReleasedMaxPixels && min == Qwen2VlSmartResize.ReleasedMinPixels)
            {
                var plan = Entry("qwen2vl").Plan(w, h);
                plan.Tokens.Should().Be(e.GetProperty("tokens").GetInt32());
                plan.Runs.Single().Bindings["M"].Should().Be(plan.Tokens);
                released++;
            }
        }
        released.Should().BeGreaterThan(50);
    }

    [Fact]
    public void Qwen2_5_VL_follows_smart_resize_with_its_released_preprocessor_config()
    {
        // The entry's pixel bounds are the released Qwen2.5-VL preprocessor_config.json's (fixtures/hf-configs).
        string released = Repo.Fixture("hf-configs", "Qwen__Qwen2.5-VL-3B-Instruct", "preprocessor_config.json");
        using var pre = JsonDocument.Parse(File.ReadAllText(released));
        pre.RootElement.GetProperty("min_pixels").GetInt32().Should().Be(ComparedFamilies.Qwen25VlMinPixels);
        pre.RootElement.GetProperty("max_pixels").GetInt32().Should().Be(ComparedFamilies.Qwen25VlMaxPixels);
        var entry = Entry("qwen25vl");
        entry.Architecture.Should().Be("qwen25vl");
        entry.Rule.Should().Contain("window attention").And.Contain("112-px windows").And.Contain("7/15/23/31");
        int n = 0;
        foreach (var e in Tiling.GetProperty("qwen2vl_smart_resize").EnumerateArray())
        {
            int w = e.GetProperty("width").GetInt32(), h = e.GetProperty("height").GetInt32();
            if (e.GetProperty("min_pixels").GetInt32() != ComparedFamilies.Qwen25VlMinPixels
                || e.GetProperty("max_pixels").GetInt32() != ComparedFamilies.Qwen25VlMaxPixels) continue;
            var plan = entry.Plan(w, h);
            plan.Tokens.Should().Be(e.GetProperty("tokens").GetInt32(), $"{w}x{h}");
            var run = plan.Runs.Single();
            run.Bindings["M"].Should().Be(plan.Tokens);
            int gh = e.GetProperty("resized_height").GetInt32() / 14, gw = e.GetProperty("resized_width").GetInt32() / 14;
            run.Bindings["W"].Should().Be(Qwen25VlWindows.Frame(gh, gw, 4, 2).Windows, $"{w}x{h}: 112-px windows = 4x4 merge units");
            n++;
        }
        n.Should().BeGreaterThan(50);
    }

    [Fact]
    public void Qwen2_5_VL_runs_carry_the_graphs_host_derived_inputs()
    {
        // What `compare --measure` feeds bench: the family's planned inputs for one frame, matching the graph's inputs
        // once M and W are bound (random floats cannot stand in for window order and slots).
        var run = Entry("qwen25vl").Plan(300, 200).Runs.Single();
        run.Inputs.Should().NotBeNull();
        var inputs = run.Inputs!();
        var graph = ModelForge.Graphs.Architectures.ArchitectureRegistry.Get("qwen25vl").Build(null, run.Request);
        inputs.Keys.Should().BeEquivalentTo(graph.Inputs.Select(i => i.Name));
        foreach (var i in graph.Inputs)
            inputs[i.Name].Shape.Should().Equal(i.Shape.Dims.Select(d => d.Evaluate(run.Bindings)), i.Name);
        inputs["token_order"].Longs!.Order().Should().Equal(Enumerable.Range(0, 77).Select(x => (long)x));
    }

    [Theory]
    [InlineData(700, 700, 257)]       // both sides <= 768: global view only, 256 + separator
    [InlineData(4096, 4096, 833)]     // square page: 2x2 crops (max 6): 4 x 144 + 257
    [InlineData(1000, 3000, 689)]     // 1:3 page: 1x3 crops: 3 x 144 + 257
    public void DeepEncoder2_gives_144_per_crop_plus_257(int w, int h, long tokens)
    {
        // fixtures/golden/README.md (deepencoder2-tiny): "an image gives 144*k + 256 + 1 tokens (k = 0 or 2..6 crops)".
        var plan = Entry("deepencoder2").Plan(w, h);
        plan.Tokens.Should().Be(tokens);
        if (tokens > 257) plan.Runs.Single(r => r.Part == "local").Bindings["T"].Should().Be((tokens - 257) / 144);
    }

    [Fact]
    public void Vary_has_a_fixed_256_tokens() => Entry("vary").Plan(4096, 4096).Tokens.Should().Be(256);

    [Fact]
    public void Families_resolve_groups_and_reject_unknown_names()
    {
        ComparedFamilies.Resolve("deepencoder,qwen2vl").Select(f => f.Id)
            .Should().Equal("deepencoder-base", "deepencoder-gundam", "qwen2vl");
        ComparedFamilies.Resolve("qwen2vl,qwen25vl,deepencoder2").Select(f => f.Id).Should().Equal("qwen2vl", "qwen25vl", "deepencoder2");
        var act = () => ComparedFamilies.Resolve("deepencoder,nope");
        act.Should().Throw<ArgumentException>().WithMessage("*unknown family 'nope'*");
    }
}
