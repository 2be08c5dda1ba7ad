using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using FluentAssertions;
using ModelForge.Cli.Commands;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Images;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Converters.Images;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using SkiaSharp;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Everything else ModelForge reads, mutated: --config and fixture.json documents, golden files and images. Each reader
/// has its own exception types (listed per test); any other exception escaping is a bug (the CLI would report it as an
/// internal error, exit 3). Seeded PCG streams make every run identical.
/// </summary>
[Trait("Category", "Slow")]
public sealed class InputFuzzTests(ITestOutputHelper output)
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly Architecture DeepEncoder = ArchitectureRegistry.Get("deepencoder");

    /// <summary>Values no field expects: wrong types, out-of-range and unrepresentable numbers, nesting past the limit.</summary>
    private static readonly string[] Hostile =
    [
        "\"x\"", "\"\"", "null", "true", "[]", "{}", "[1,2]", "-1", "0", "1.5", "2147483648", "-2147483649", "1e400", "1e-400",
        "9223372036854775808", "1e308", "\"\\u0000\"", "-0", "65536", "4096", new string('[', 40) + new string(']', 40),
        "{\"a\":" + new string('[', 33) + new string(']', 33) + "}",
    ];

    /// <summary>A JSON document with one structural mutation (a value replaced, removed, or a stray field added) or text edits.</summary>
    private static Gen<string> MutatedJson(string original)
    {
        var paths = Leaves(JsonNode.Parse(original)!).ToArray();
        var structural =
            from path in Gen.Int[0, paths.Length - 1]
            from op in Gen.Int[0, 2]
            from value in Gen.Int[0, Hostile.Length - 1]
            select Structural(original, paths[path], op, Hostile[value]);
        var textual =
            from edits in Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Char["{}[]\":,0123456789-.e \\n"]).Array[1, 4]
            select MalformedSafetensors.Edit(original, edits);
        return Gen.Frequency((3, structural), (1, textual));
    }

    /// <summary>Every node of the document (objects and arrays too, so whole parts get replaced).</summary>
    private static IEnumerable<JsonNode> Leaves(JsonNode node)
    {
        yield return node;
        var children = node switch
        {
            JsonObject o => o.Select(kv => kv.Value),
            JsonArray a => a,
            _ => [],
        };
        foreach (var c in children.OfType<JsonNode>())
            foreach (var d in Leaves(c)) yield return d;
    }

    private static string Structural(string original, JsonNode at, int op, string hostile)
    {
        var root = JsonNode.Parse(original)!;
        var target = Leaves(root).First(n => n.GetPath() == at.GetPath());
        var value = JsonNode.Parse(hostile, documentOptions: new() { MaxDepth = 1000 });
        switch (target.Parent)
        {
            case JsonObject o when op == 1:
                o.Remove(target.GetPropertyName());
                break;
            case JsonObject o:
                o[op == 0 ? target.GetPropertyName() : "unexpected_" + target.GetPropertyName()] = value;
                break;
            case JsonArray a:
                a[target.GetElementIndex()] = value;
                break;
            default:
                return hostile; // the root itself
        }
        return root.ToJsonString();
    }

    /// <summary>Builds the graphs a config describes when it is small enough to build in a moment (shapes only, no weights).</summary>
    private static void BuildIfSmall(DeepEncoderConfig cfg, Action build)
    {
        bool small = cfg.Sam.ImageSize <= 1024 && cfg.Sam.Depth <= 16 && cfg.Clip.NumLayers <= 16 && cfg.Sam.EmbedDim <= 1024
            && cfg.Clip.HiddenSize <= 2048 && cfg.Clip.FfnHiddenSize <= 8192 && cfg.Sam.PatchSize >= 4;
        if (small) build();
    }

    private static void Expect(Exception e, string where, params Type[] allowed)
    {
        allowed.Should().Contain(e.GetType(), $"{where}\nescaped: {e}");
        e.Message.Should().NotContainAny(["\n", "\r"], where);
    }

    [Fact]
    public void Mutated_config_files_end_in_usage_or_graph_errors()
    {
        using var tmp = new TempDir();
        string original = File.ReadAllText(Path.Combine(TinyDir, "fixture.json"));
        var gen = MutatedJson(original);
        var pcg = new PCG(10, 20251124);
        int cases = 0, refusedJson = 0, refusedConfig = 0, built = 0;
        for (int i = 0; i < 1_500; i++)
        {
            string json = gen.Generate(pcg, null!, out _);
            string path = tmp.File("config.json");
            File.WriteAllText(path, json);
            cases++;
            string where = $"case {i}: {json}";
            try
            {
                using var doc = CommonOptions.ReadConfig(new FileInfo(path))!;
                var cfg = DeepEncoderConfig.FromJson(doc.RootElement);
                BuildIfSmall(cfg, () =>
                {
                    DeepEncoder.Build(doc.RootElement, new BuildRequest());
                    foreach (var part in DeepEncoder.PlanMode(doc.RootElement, "gundam")) DeepEncoder.Build(doc.RootElement, part.Request);
                });
                built++;
            }
            catch (UsageException e)
            {
                e.Message.Should().Contain(path, where);
                refusedJson++;
            }
            catch (Exception e)
            {
                Expect(e, where, typeof(GraphException));
                refusedConfig++;
            }
        }
        Counts.WriteLine(output, $"--config: {cases} cases, {refusedJson} refused as JSON (UsageException), {refusedConfig} refused as " +
            $"config (GraphException), {built} accepted");
        cases.Should().Be(1_500);
        refusedConfig.Should().BeGreaterThan(200);
    }

    [Fact]
    public void Every_config_field_replaced_by_every_hostile_value_or_removed()
    {
        // Exhaustive rather than sampled: each node of fixture.json x (each hostile value, removal, a stray sibling).
        string original = File.ReadAllText(Path.Combine(TinyDir, "fixture.json"));
        var nodes = Leaves(JsonNode.Parse(original)!).ToArray();
        int cases = 0, refused = 0;
        foreach (var node in nodes)
            for (int op = 0; op < 3; op++)
                foreach (string value in op == 1 ? Hostile[..1] : Hostile)
                {
                    string json = Structural(original, node, op, value);
                    cases++;
                    try
                    {
                        using var doc = System.Text.Json.JsonDocument.Parse(json, new() { MaxDepth = 32 });
                        var cfg = DeepEncoderConfig.FromJson(doc.RootElement);
                        BuildIfSmall(cfg, () => DeepEncoder.Build(doc.RootElement, new BuildRequest()));
                    }
                    catch (System.Text.Json.JsonException)
                    {
                        refused++; // ReadConfig turns this into a UsageException naming the file
                    }
                    catch (Exception e)
                    {
                        Expect(e, $"{node.GetPath()} op {op} value {value}", typeof(GraphException));
                        refused++;
                    }
                }
        Counts.WriteLine(output, $"--config exhaustive: {cases} documents ({nodes.Length} nodes), {refused} refused, {cases - refused} " +
            "accepted");
        refused.Should().BeGreaterThan(100);
    }

    [Fact]
    public void Mutated_fixture_json_and_golden_files_end_in_fixture_errors()
    {
        using var tmp = new TempDir();
        string original = File.ReadAllText(Path.Combine(TinyDir, "fixture.json"));
        File.CreateSymbolicLink(tmp.File("model.safetensors"), Path.Combine(TinyDir, "model.safetensors"));
        var gen = MutatedJson(original);
        var pcg = new PCG(11, 20251124);
        var tally = new Dictionary<string, int>();
        void Count(string k) => tally[k] = tally.GetValueOrDefault(k) + 1;

        byte[] golden = File.ReadAllBytes(Path.Combine(TinyDir, "golden.safetensors"));
        int goldenHeader = 8 + (int)BitConverter.ToUInt64(golden, 0);
        var goldenGen = Gen.OneOf(
            Gen.Int[0, golden.Length - 1].Select(cut => ("truncated", golden[..cut])),
            MalformedSafetensors.ByteMutation(goldenHeader).Select(m => ("mutated header", MalformedSafetensors.Mutate(golden, m))));
        for (int i = 0; i < 400; i++)
        {
            bool mutateGolden = i % 2 == 1;
            string json = mutateGolden ? original : gen.Generate(pcg, null!, out _);
            var (goldenKind, goldenBytes) = mutateGolden ? goldenGen.Generate(pcg, null!, out _) : ("intact", golden);
            File.WriteAllText(tmp.File("fixture.json"), json);
            File.WriteAllBytes(tmp.File("golden.safetensors"), goldenBytes);
            string where = $"case {i} (golden {goldenKind}, {goldenBytes.Length} bytes): {json}";
            try
            {
                using var fixture = GoldenFixture.Load(tmp.Path);
                // What validate does next with each case: its build request and its graph.
                var cfg = DeepEncoderConfig.FromJson(fixture.Config);
                foreach (var c in fixture.Cases)
                {
                    var request = fixture.Architecture.RequestForCase(c.Json);
                    if (request.ImageSize is > 0 and <= 1024) BuildIfSmall(cfg, () => fixture.Architecture.Build(fixture.Config, request));
                }
                Count(mutateGolden ? "golden: loaded" : "fixture.json: loaded");
            }
            catch (Exception e)
            {
                Expect(e, where, typeof(FixtureException), typeof(GraphException), typeof(CheckpointFormatException));
                e.Message.Should().Contain(tmp.Path, "the message names the fixture's file: " + where);
                Count((mutateGolden ? "golden: " : "fixture.json: ") + e.GetType().Name);
            }
        }
        Counts.WriteLine(output, "fixtures: 400 cases; " + string.Join(", ", tally.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        tally.Values.Sum().Should().Be(400);
        tally.GetValueOrDefault("golden: CheckpointFormatException").Should().BeGreaterThan(100);
    }

    [Fact]
    public void Broken_images_end_in_image_errors_and_never_decode_above_the_pixel_limit()
    {
        var png = File.ReadAllBytes(PreprocessGolden.PathOf("small_300x200.png"));
        byte[] jpeg;
        using (var bitmap = SKBitmap.Decode(png))
        using (var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90))
            jpeg = data.ToArray();
        var sources = new[] { ("png", png), ("jpeg", jpeg) };
        var gen = Gen.OneOf(
            from s in Gen.Int[0, 1]
            from cut in Gen.Int[0, sources[s].Item2.Length - 1]
            select ($"truncated {sources[s].Item1} at {cut}", sources[s].Item2[..cut], ImageLoader.DefaultMaxPixels),
            from s in Gen.Int[0, 1]
            from m in MalformedSafetensors.ByteMutation(Math.Min(600, sources[s].Item2.Length))
            select ($"{sources[s].Item1} header mutation {m}", MalformedSafetensors.Mutate(sources[s].Item2, m),
                ImageLoader.DefaultMaxPixels),
            from w in Gen.OneOf(Gen.Int[0, 3], Gen.Int[1, int.MaxValue])
            from h in Gen.OneOf(Gen.Int[0, 3], Gen.Int[1, int.MaxValue])
            from limit in Gen.OneOf(Gen.Const(ImageLoader.DefaultMaxPixels), Gen.Long[1, 100])
            select ($"declared {w}x{h}, limit {limit}", ImageLoaderTests.Png(w, h, 2, ImageLoaderTests.Deflate(new byte[64])), limit),
            Gen.Byte.Array[0, 64].Select(b => ("random bytes", b, ImageLoader.DefaultMaxPixels)));
        var pcg = new PCG(12, 20251124);
        int cases = 0, refused = 0, decoded = 0;
        for (int i = 0; i < 1_000; i++)
        {
            var (kind, bytes, limit) = gen.Generate(pcg, null!, out _);
            cases++;
            string label = $"image{i}.png";
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var img = ImageLoader.Decode(bytes, label, limit);
                ((long)img.Width * img.Height).Should().BeInRange(1, limit, kind);
                decoded++;
            }
            catch (Exception e)
            {
                Expect(e, $"case {i}: {kind}", typeof(ImageFormatException));
                e.Message.Should().StartWith(label + ": ");
                refused++;
            }
            // Decoding allocates the pixels of at most the pixel limit; huge declared sizes must not get that far.
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            allocated.Should().BeLessThan(64L << 20, $"case {i}: {kind}");
        }
        Counts.WriteLine(output, $"images: {cases} cases, {refused} refused with ImageFormatException, {decoded} decoded");
        refused.Should().BeGreaterThan(500);
    }
}
