using System.Text.Json;
using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;
using ModelForge.Graphs.Passes;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using ModelForge.Validators.Torch;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Validators.Fixtures;

/// <summary>
/// The attention pattern of DeepSeek-OCR 2's query encoder, on BOTH back-ends with the golden checkpoint: the bugs of
/// NVIDIA's first port (trtmc PR #467: a fully causal mask) show up here even where a single golden comparison might pass.
/// Query j may only influence queries j..n-1 (causal among queries); every visual token influences every query and every
/// other visual token (bidirectional among visual tokens).
/// </summary>
public class DeepEncoder2AttentionPatternTests(ITestOutputHelper output)
{
    private const int N = 16;   // the tiny global view's token count (query_1024 has 16 rows)

    /// <summary>The back-end, on the graph as built or after the default pass pipeline (attention fused into SDPA).</summary>
    public enum Backend { Torch, Onnx, TorchFused, OnnxFused }

    [Theory]
    [InlineData(Backend.Torch)]
    [InlineData(Backend.Onnx)]
    [InlineData(Backend.TorchFused)]
    [InlineData(Backend.OnnxFused)]
    public void Perturbing_a_later_query_leaves_earlier_query_outputs_unchanged(Backend backend)
    {
        const int j = 10;
        var visual = Visual();
        var baseline = Run(backend, visual, patchQuery: null);
        var patched = Run(backend, visual, patchQuery: j);
        for (int q = 0; q < N; q++)
        {
            double diff = RowDiff(baseline["encoder"], patched["encoder"], q);
            output.WriteLine($"{backend} query {q}: max |change| = {diff:E2}");
            if (q < j) diff.Should().Be(0, $"query {q} must not see query {j} (causal among queries)");
            else diff.Should().BeGreaterThan(1e-4, $"query {q} sees query {j}");
        }
    }

    [Theory]
    [InlineData(Backend.Torch)]
    [InlineData(Backend.Onnx)]
    [InlineData(Backend.TorchFused)]
    [InlineData(Backend.OnnxFused)]
    public void Changing_one_visual_token_changes_every_query_output_and_every_visual_token(Backend backend)
    {
        var visual = Visual();
        var changed = (float[])visual.Clone();
        for (int c = 0; c < 96; c++) changed[(N - 1) * 96 + c] += 0.5f;   // the LAST visual token only
        var before = Run(backend, visual, null);
        var after = Run(backend, changed, null);
        for (int q = 0; q < N; q++)
            RowDiff(before["encoder"], after["encoder"], q).Should().BeGreaterThan(1e-4, $"query {q} attends to every visual token");
        // Bidirectional among visual tokens: the FIRST visual token's layer-0 output changes (a fully causal mask keeps it).
        var layer0Before = before["layer0"];
        var layer0After = after["layer0"];
        for (int t = 0; t < N - 1; t++)
            RowDiff(layer0Before, layer0After, t).Should().BeGreaterThan(1e-5, $"visual token {t} attends to visual token {N - 1}");
        output.WriteLine($"{backend}: visual token 0 layer-0 change {RowDiff(layer0Before, layer0After, 0):E2}");
    }

    /// <summary>
    /// At the RELEASED widths (896 hidden, 14 query heads over 2 KV heads, head_dim 64, SwiGLU 4864; 1 of the 24 layers,
    /// random weights) and the released crop view's 144 tokens (query_768, positions 0..287): both back-ends agree, and on
    /// both a later query again leaves every earlier query's output bit for bit unchanged.
    /// </summary>
    [Fact]
    public void Released_width_encoder_agrees_on_both_backends_and_keeps_queries_causal()
    {
        const int n = 144, j = 100;
        var cfg = DeepEncoder2Config.Default with { Qwen2 = DeepEncoder2Config.Default.Qwen2 with { NumLayers = 1 } };
        var graph = DeepEncoder2Builder.BuildEncoder(cfg, n);
        graph.PruneUnused();
        var rng = new Random(11);
        MemoryWeights Weights(int? patchRow)
        {
            var w = new MemoryWeights();
            var local = new Random(3);
            foreach (var (key, shape) in graph.DeclaredWeights.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                long[] dims = shape.ToLongs();
                bool norm = key.EndsWith("layernorm.weight", StringComparison.Ordinal)
                    || key.EndsWith("norm.weight", StringComparison.Ordinal);
                float scale = key.Contains("query", StringComparison.Ordinal) ? 1f : 1f / MathF.Sqrt(dims[^1]);
                var data = new float[shape.ElementCount.Value];
                for (int i = 0; i < data.Length; i++) data[i] = norm ? 1f + 0.1f * (float)(local.NextDouble() - 0.5)
                    : scale * (float)(local.NextDouble() * 2 - 1);
                if (patchRow is { } r && key == "qwen2_model.query_768.weight")
                    for (int i = 0; i < 896; i++) data[r * 896 + i] += 0.5f;
                w.Add(key, data, dims);
            }
            return w;
        }
        var visual = Enumerable.Range(0, n * 896).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var inputs = new Dictionary<string, HostTensor> { ["visual_tokens"] = new HostTensor([1, n, 896], visual) };
        HostTensor Torch(IWeightSource w)
        {
            TorchRuntime.Initialize(ComputeDevice.Cpu);
            using var ev = new TorchEvaluator(graph, w);
            return ev.Run(inputs)["encoder"];
        }
        HostTensor Onnx(IWeightSource w)
        {
            using var tmp = new TempDir();
            var export = OnnxExporter.Export(graph, w, tmp.File("encoder.onnx"), new OnnxExportOptions());
            using var runner = new OrtRunner(export.ModelPath);
            return runner.Run(inputs, ["encoder"])["encoder"];
        }
        var (unpatched, patchedWeights) = (Weights(null), Weights(j));
        var (baseTorch, baseOnnx) = (Torch(unpatched), Onnx(unpatched));
        double parity = baseTorch.Data.Zip(baseOnnx.Data, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"released widths, 1 layer, n = {n}: max |torch - onnx| = {parity:E2}");
        parity.Should().BeLessThan(1e-4);
        foreach (var (name, baseline, patched) in new[] { ("torch", baseTorch, Torch(patchedWeights)),
            ("onnx", baseOnnx, Onnx(patchedWeights)) })
            for (int q = 0; q < n; q++)
            {
                double diff = RowDiff(baseline, patched, q);
                if (q < j) diff.Should().Be(0, $"{name}: query {q} must not see query {j}");
                else diff.Should().BeGreaterThan(1e-5, $"{name}: query {q} sees query {j}");
            }
    }

    private static float[] Visual()
    {
        var rng = new Random(7);
        return Enumerable.Range(0, N * 96).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Max |a - b| over row r of [1, S, C] tensors.</summary>
    private static double RowDiff(HostTensor a, HostTensor b, int r)
    {
        int c = (int)a.Shape[^1];
        double max = 0;
        for (int i = 0; i < c; i++) max = Math.Max(max, Math.Abs(a.Data[r * c + i] - b.Data[r * c + i]));
        return max;
    }

    /// <summary>
    /// The encoder graph (visual_tokens [1, 16, 96] -> encoder) on one back-end, optionally with query_1024 row
    /// <paramref name="patchQuery"/> shifted by 0.5; returns "encoder" and "layer0" (qwen2.layers.0 trace, all 32 positions).
    /// </summary>
    private static Dictionary<string, HostTensor> Run(Backend backend, float[] visual, int? patchQuery)
    {
        string dir = Repo.Golden("deepencoder2-tiny");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "fixture.json")));
        var cfg = DeepEncoder2Config.FromJson(doc.RootElement);
        var graph = DeepEncoder2Builder.BuildEncoder(cfg, N);
        using var ckpt = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        var weights = new PatchedWeights(new CheckpointWeights(ckpt, new DeepEncoder2Adapter()), "qwen2_model.query_1024.weight",
            patchQuery, 96);
        graph.PruneUnused();
        if (backend is Backend.TorchFused or Backend.OnnxFused)
            PassManager.For(PassRegistry.Default).Run(graph).Should().NotBeNull();
        if (backend is Backend.TorchFused or Backend.OnnxFused)
            graph.Nodes.Count(x => x.Op is ScaledDotProductAttention).Should().Be(cfg.Qwen2.NumLayers, "each layer's attention is fused");
        string layer0 = graph.Traces["qwen2.layers.0"].Name;
        var inputs = new Dictionary<string, HostTensor> { ["visual_tokens"] = new HostTensor([1, N, 96], visual) };
        IReadOnlyDictionary<string, HostTensor> result;
        if (backend is Backend.Torch or Backend.TorchFused)
        {
            TorchRuntime.Initialize(ComputeDevice.Cpu);
            using var ev = new TorchEvaluator(graph, weights);
            result = ev.Run(inputs, [layer0]);
        }
        else
        {
            using var tmp = new TempDir();
            var export = OnnxExporter.Export(graph, weights, tmp.File("encoder.onnx"), new OnnxExportOptions { ExtraOutputs = [layer0] });
            using var runner = new OrtRunner(export.ModelPath);
            result = runner.Run(inputs, ["encoder", layer0]);
        }
        return new Dictionary<string, HostTensor> { ["encoder"] = result["encoder"], ["layer0"] = result[layer0] };
    }

    /// <summary>A checkpoint with one row of one table shifted by 0.5 (the real tensors otherwise).</summary>
    private sealed class PatchedWeights(IWeightSource inner, string key, int? row, int width) : IWeightSource
    {
        public TensorType? Describe(string k) => inner.Describe(k) is { } t && k == key && row is not null
            ? t with { DType = DataType.Float32 } : inner.Describe(k);

        public float[] ReadFloat32(string k)
        {
            var data = inner.ReadFloat32(k);
            if (k == key && row is { } r)
                for (int i = 0; i < width; i++) data[r * width + i] += 0.5f;
            return data;
        }

        public ReadOnlyMemory<byte> ReadRaw(string k) => k == key && row is not null
            ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(ReadFloat32(k).AsSpan()).ToArray()
            : inner.ReadRaw(k);
    }
}
