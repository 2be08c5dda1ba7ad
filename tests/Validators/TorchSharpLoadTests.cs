using FluentAssertions;
using ModelForge.Validators.Torch;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ModelForge.Tests.Validators;

/// <summary>
/// TorchSharp's native library loads and computes on the CPU. On Debian 12 this only works through the build's
/// patch of libLibTorchSharp.so (build/TorchSharpGlibcxxFix.targets), so these are the first tests to fail when
/// that patch is missing or wrong. Each op is checked against values computed here in plain C#.
/// Only well-formed ops: a libtorch error inside an op terminates the process (docs/ENVIRONMENT.md).
/// </summary>
public class TorchSharpLoadTests
{
    public TorchSharpLoadTests() => TorchRuntime.Initialize(ComputeDevice.Cpu);

    private static float[] Data(Tensor t) => t.contiguous().to_type(ScalarType.Float32).data<float>().ToArray();

    [Fact]
    public void Tensors_and_matmul()
    {
        using var scope = NewDisposeScope(); // also frees the temporaries of Data() and inline ops
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, new long[] { 3, 2 });
        using var c = matmul(a, b);
        c.shape.Should().Equal(2, 2);
        Data(c).Should().Equal(58, 64, 139, 154); // [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] by hand
    }

    [Fact]
    public void Conv2d_with_bias_stride_and_padding()
    {
        using var scope = NewDisposeScope(); // also frees the temporaries of Data() and inline ops
        // 1x1x3x3 input 1..9, one 2x2 kernel [1 0; 0 -1] (top-left minus bottom-right), bias 0.5.
        using var x = arange(1, 10, dtype: ScalarType.Float32).reshape(1, 1, 3, 3);
        using var w = tensor(new float[] { 1, 0, 0, -1 }, new long[] { 1, 1, 2, 2 });
        using var bias = tensor(new float[] { 0.5f });
        using var y = F.conv2d(x, w, bias);
        y.shape.Should().Equal(1, 1, 2, 2);
        Data(y).Should().Equal(-3.5f, -3.5f, -3.5f, -3.5f); // x[i,j] - x[i+1,j+1] = -4, + 0.5

        // Zero padding 1, stride 2 on the same input: windows at (-1,-1), (-1,1), (1,-1), (1,1).
        using var yp = F.conv2d(x, w, bias, strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 });
        yp.shape.Should().Equal(1, 1, 2, 2);
        Data(yp).Should().Equal(0.5f - 1, 0.5f - 3, 0.5f - 7, 0.5f + 5 - 9);
    }

    [Fact]
    public void Scaled_dot_product_attention_matches_softmax_qk_v()
    {
        using var scope = NewDisposeScope(); // also frees the temporaries of Data() and inline ops
        const int L = 3, S = 4, E = 5;
        using var g = new Generator(7);
        using var q = randn(new long[] { 1, 2, L, E }, generator: g);
        using var k = randn(new long[] { 1, 2, S, E }, generator: g);
        using var v = randn(new long[] { 1, 2, S, E }, generator: g);
        using var got = F.scaled_dot_product_attention(q, k, v);
        got.shape.Should().Equal(1, 2, L, E);

        float[] qd = Data(q), kd = Data(k), vd = Data(v), o = Data(got);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < L; i++)
            {
                // softmax_j(q_i . k_j / sqrt(E)) in double, then the weighted sum of the v_j.
                var s = new double[S];
                for (int j = 0; j < S; j++)
                {
                    for (int e = 0; e < E; e++) s[j] += qd[(h * L + i) * E + e] * kd[(h * S + j) * E + e];
                    s[j] /= Math.Sqrt(E);
                }
                double max = s.Max(), sum = s.Sum(z => Math.Exp(z - max));
                for (int e = 0; e < E; e++)
                {
                    double want = 0;
                    for (int j = 0; j < S; j++) want += Math.Exp(s[j] - max) / sum * vd[(h * S + j) * E + e];
                    o[(h * L + i) * E + e].Should().BeApproximately((float)want, 1e-5f);
                }
            }
    }

    [Fact]
    public void Bf16_matmul_is_exact_on_small_integers()
    {
        using var scope = NewDisposeScope(); // also frees the temporaries of Data() and inline ops
        // Integers up to 256 are exact in bfloat16 (8 significant bits), so is every product and sum here.
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 }).to_type(ScalarType.BFloat16);
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, new long[] { 3, 2 }).to_type(ScalarType.BFloat16);
        using var c = matmul(a, b);
        c.dtype.Should().Be(ScalarType.BFloat16);
        Data(c).Should().Equal(58, 64, 139, 154);

        // And bf16 rounding is what it should be: 1 + 2^-9 is below half an ulp of 1 (2^-8), so it rounds to 1.
        using var r = tensor(new float[] { 1f + 1f / 512, 257 }).to_type(ScalarType.BFloat16);
        Data(r).Should().Equal(1f, 256f);
    }

    [Fact]
    public void Antialiased_bicubic_interpolate_matches_a_separable_reference()
    {
        using var scope = NewDisposeScope(); // also frees the temporaries of Data() and inline ops
        // 1x1x12x10 -> 5x4: a downscale, where antialias widens the filter to the scale (PIL-style).
        const int H = 12, W = 10, OH = 5, OW = 4;
        using var g = new Generator(3);
        using var x = rand(new long[] { 1, 1, H, W }, generator: g);
        using var y = F.interpolate(x, size: new long[] { OH, OW }, mode: InterpolationMode.Bicubic, align_corners: false, antialias: true);
        y.shape.Should().Equal(1, 1, OH, OW);

        double[,] wh = AntialiasWeights(H, OH), ww = AntialiasWeights(W, OW);
        float[] xd = Data(x), yd = Data(y);
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++)
            {
                double want = 0;
                for (int a = 0; a < H; a++)
                    for (int b = 0; b < W; b++) want += wh[i, a] * ww[j, b] * xd[a * W + b];
                yd[i * OW + j].Should().BeApproximately((float)want, 1e-5f, $"output ({i},{j})");
            }

        // Identities: a constant image stays constant; without antialias the result differs (narrower filter).
        using var ones = full(new long[] { 1, 1, H, W }, 0.25f);
        Data(F.interpolate(ones, size: new long[] { OH, OW }, mode: InterpolationMode.Bicubic, align_corners: false, antialias: true))
            .Should().AllSatisfy(v => v.Should().BeApproximately(0.25f, 1e-6f));
        using var plain = F.interpolate(x, size: new long[] { OH, OW }, mode: InterpolationMode.Bicubic, align_corners: false);
        Data(plain).Zip(yd).Max(p => Math.Abs(p.First - p.Second)).Should().BeGreaterThan(1e-3f);
    }

    /// <summary>
    /// PyTorch's antialiased resampling weights (aten UpSampleKernel, _compute_indices_min_size_weights_aa):
    /// output pixel i centred at scale*(i+0.5) in input pixels, filter support 2*scale, the Keys cubic with
    /// a = -0.5 (as PIL) evaluated at distance/scale, weights normalised to sum 1 over the clipped window.
    /// </summary>
    private static double[,] AntialiasWeights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, support = 2 * scale;
        var w = new double[outSize, inSize];
        for (int i = 0; i < outSize; i++)
        {
            double center = scale * (i + 0.5);
            int min = Math.Max((int)(center - support + 0.5), 0), max = Math.Min((int)(center + support + 0.5), inSize);
            double total = 0;
            for (int k = min; k < max; k++) total += w[i, k] = Cubic((k - center + 0.5) / scale);
            for (int k = min; k < max; k++) w[i, k] /= total;
        }
        return w;
    }

    private static double Cubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        return x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1
             : x < 2 ? (((x - 5) * x + 8) * x - 4) * a
             : 0;
    }
}
