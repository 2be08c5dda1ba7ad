using CsCheck;
using FluentAssertions;
using ModelForge.Graphs.Numerics;
using Xunit;

namespace ModelForge.Tests.Graphs.Numerics;

public class ResampleTests
{
    public static TheoryData<string> SpecNames => new() { "TorchBicubicAntialias", "TorchBicubic", "TorchLinear", "PilBicubic" };

    private static ResampleSpec Spec(string name) => name switch
    {
        "TorchBicubicAntialias" => ResampleSpec.TorchBicubicAntialias,
        "TorchBicubic" => ResampleSpec.TorchBicubic,
        "TorchLinear" => ResampleSpec.TorchLinear,
        _ => ResampleSpec.PilBicubic,
    };

    [Theory]
    [MemberData(nameof(SpecNames))]
    public void Same_size_returns_the_input_exactly(string specName)
    {
        var spec = Spec(specName);
        Gen.Int[1, 12].Select(Gen.Int[1, 12], Gen.Int[1, 3]).SelectMany((h, w, c) =>
                Gen.Float[-100f, 100f].Array[c * h * w].Select(data => (h, w, c, data)))
            .Sample(t =>
            {
                Resample.Resize2D(t.data, t.c, t.h, t.w, t.h, t.w, spec).Should().Equal(t.data);
                Resample.Resize1D(t.data, t.c * t.h, t.w, t.w, spec).Should().Equal(t.data);
            });
    }

    [Theory]
    [MemberData(nameof(SpecNames))]
    public void A_constant_stays_constant_at_any_size(string specName)
    {
        var spec = Spec(specName);
        Gen.Int[1, 40].Select(Gen.Int[1, 40], Gen.Int[1, 40], Gen.Int[1, 40], Gen.Float[-50f, 50f])
            .Sample((inH, inW, outH, outW, v) =>
            {
                var src = Enumerable.Repeat(v, 2 * inH * inW).ToArray();
                var dst = Resample.Resize2D(src, 2, inH, inW, outH, outW, spec);
                dst.Should().HaveCount(2 * outH * outW);
                dst.Should().OnlyContain(x => Math.Abs(x - v) <= 1e-5f * Math.Max(1f, Math.Abs(v)));
            });
    }

    [Theory]
    [MemberData(nameof(SpecNames))]
    public void Weights_sum_to_one_and_stay_inside_the_input(string specName)
    {
        var spec = Spec(specName);
        Gen.Int[1, 200].Select(Gen.Int[1, 200]).Sample((inLen, outLen) =>
        {
            var w = Resample.ComputeWeights(inLen, outLen, spec);
            for (int i = 0; i < outLen; i++)
            {
                var taps = w.Taps(i);
                w.First(i).Should().BeGreaterThanOrEqualTo(0);
                (w.First(i) + taps.Length).Should().BeLessThanOrEqualTo(inLen);
                taps.ToArray().Sum().Should().BeApproximately(1.0, 1e-12);
            }
        });
    }

    [Fact]
    public void Linear_upsampling_of_a_ramp_is_exact_where_the_source_index_is_inside()
    {
        // align_corners=False: output i samples the input at (i + 0.5) * in / out - 0.5; on a ramp f(x) = 3x + 1 linear
        // interpolation is exact wherever that position lies in [0, in - 1] (outside it the index is clamped).
        foreach (var (inLen, outLen) in new[] { (31, 39), (19, 31), (7, 64), (127, 200) })
        {
            var ramp = Enumerable.Range(0, inLen).Select(x => 3f * x + 1f).ToArray();
            var dst = Resample.Resize1D(ramp, 1, inLen, outLen, ResampleSpec.TorchLinear);
            double scale = (double)inLen / outLen;
            for (int i = 0; i < outLen; i++)
            {
                double src = (i + 0.5) * scale - 0.5;
                double expected = src < 0 ? 1.0 : src > inLen - 1 ? 3.0 * (inLen - 1) + 1 : 3.0 * src + 1;
                dst[i].Should().BeApproximately((float)expected, 1e-4f, $"{inLen}->{outLen} at {i}");
            }
        }
    }

    [Fact]
    public void Antialiased_bicubic_4_to_2_matches_the_hand_computed_PIL_formula()
    {
        // scale = 2, so the a = -0.5 kernel is stretched to support 2 * 2 = 4 and evaluated at (x - centre + 0.5) / 2.
        // Output 0: centre 1, taps x = 0..3 (clipped to the input) at distances -0.25, 0.25, 0.75, 1.25:
        //   k(t) = 1.5|t|^3 - 2.5|t|^2 + 1 (|t| < 1);  k(t) = -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2 (1 <= |t| < 2)
        //   k(0.25) = 0.8671875, k(0.75) = 0.2265625, k(1.25) = -0.0703125; sum = 1.890625.
        // For input [1, 2, 3, 4]: (0.8671875 * 1 + 0.8671875 * 2 + 0.2265625 * 3 - 0.0703125 * 4) / 1.890625 = 3 / 1.890625.
        // Output 1 is the mirror image: 5 - 3 / 1.890625.
        var dst = Resample.Resize1D([1f, 2f, 3f, 4f], 1, 4, 2, ResampleSpec.TorchBicubicAntialias);
        dst[0].Should().BeApproximately((float)(3.0 / 1.890625), 1e-6f);
        dst[1].Should().BeApproximately((float)(5.0 - 3.0 / 1.890625), 1e-6f);

        var w = Resample.ComputeWeights(4, 2, ResampleSpec.TorchBicubicAntialias);
        w.First(0).Should().Be(0);
        w.Taps(0).ToArray().Should().Equal(
            new[] { 0.8671875, 0.8671875, 0.2265625, -0.0703125 }.Select(v => v / 1.890625));
    }

    [Fact]
    public void Plain_bicubic_clamps_indices_to_the_border_instead_of_renormalising()
    {
        // 2 -> 4 with a = -0.75: output 0 samples at (0 + 0.5) * 0.5 - 0.5 = -0.25, so i0 = -1, t = 0.75 and the taps
        // -2, -1, 0, 1 (clamped to 0, 0, 0, 1) get k(1.75), k(0.75), k(0.25), k(1.25). With input [0, 1] only index 1
        // contributes: k(1.25) = -0.75 * (1.25^3 - 5 * 1.25^2 + 8 * 1.25 - 4) = -0.10546875.
        var dst = Resample.Resize1D([0f, 1f], 1, 2, 4, ResampleSpec.TorchBicubic);
        dst[0].Should().Be(-0.10546875f);
        dst[3].Should().Be(1.10546875f);

        // The antialias path clips the taps to the input and renormalises instead, so it gives a different number.
        Resample.Resize1D([0f, 1f], 1, 2, 4, ResampleSpec.TorchBicubicAntialias)[0].Should().NotBe(-0.10546875f);
    }

    [Fact]
    public void Linear_matches_the_hand_computed_source_indices()
    {
        // 3 -> 2: scale 1.5, sources 0.25 and 1.75.  2 -> 4: scale 0.5, sources -0.25 (clamped to 0), 0.25, 0.75, 1.25
        // (index 1 has no right neighbour, so it is repeated).
        Resample.Resize1D([10f, 20f, 40f], 1, 3, 2, ResampleSpec.TorchLinear).Should().Equal(12.5f, 35f);
        Resample.Resize1D([10f, 20f], 1, 2, 4, ResampleSpec.TorchLinear).Should().Equal(10f, 12.5f, 17.5f, 20f);
    }

    [Fact]
    public void Resize2D_is_separable_into_two_1D_resizes()
    {
        Gen.Float[-1f, 1f].Array[3 * 16 * 16].Sample(src =>
        {
            var both = Resample.Resize2D(src, 3, 16, 16, 10, 20, ResampleSpec.TorchBicubicAntialias);
            var rows = Resample.Resize1D(src, 3 * 16, 16, 20, ResampleSpec.TorchBicubicAntialias); // [3,16,20]
            var transposed = new float[3 * 20 * 16];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 20; x++)
                        transposed[(c * 20 + x) * 16 + y] = rows[(c * 16 + y) * 20 + x];
            var cols = Resample.Resize1D(transposed, 3 * 20, 16, 10, ResampleSpec.TorchBicubicAntialias); // [3,20,10]
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 10; y++)
                    for (int x = 0; x < 20; x++)
                        both[(c * 10 + y) * 20 + x].Should().BeApproximately(cols[(c * 20 + x) * 10 + y], 1e-5f);
        }, iter: 20);
    }

    [Fact]
    public void Pil_uint8_row_4_to_2_matches_the_fixed_point_formula()
    {
        // Same weights as the float test, in Q22 fixed point: k = (int)(w * 2^22 +- 0.5), out = clamp((2^21 + sum p*k) >> 22).
        // Real values: (100 * 0.8671875 + 200 * 0.2265625 - 255 * 0.0703125) / 1.890625 = 60.35 -> 60, and the mirror
        // (200 * 0.2265625 ... ) = 220.68 -> 221. Height 1 is unchanged, so PIL skips the vertical pass.
        byte[] row = [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255];
        var dst = Resample.ResizePilRgb8(row, 4, 1, 2, 1);
        dst.Should().Equal(60, 60, 60, 221, 221, 221);
    }

    [Fact]
    public void Pil_uint8_keeps_constants_and_clips_overshoot()
    {
        var flat = Enumerable.Repeat((byte)173, 3 * 37 * 23).ToArray();
        Resample.ResizePilRgb8(flat, 37, 23, 11, 50).Should().OnlyContain(b => b == 173);

        // A hard edge upsampled with a negative-lobed kernel overshoots; PIL clips to [0, 255] instead of wrapping.
        var edge = new byte[3 * 4];
        edge[6] = edge[7] = edge[8] = edge[9] = edge[10] = edge[11] = 255;
        var up = Resample.ResizePilRgb8(edge, 4, 1, 16, 1);
        up.Take(3).Should().Equal(0, 0, 0);
        up.Skip(45).Should().Equal(255, 255, 255);
    }

    [Theory]
    [InlineData(37, 211, 90, 13)] // up in x, down in y
    [InlineData(5, 900, 64, 40)] // a strip: the streamed window of rows moves over many rows
    [InlineData(300, 17, 41, 333)] // down in x, up in y
    [InlineData(64, 48, 64, 97)] // vertical pass only
    [InlineData(210, 7, 33, 7)] // horizontal pass only
    public void Pil_uint8_2d_is_the_row_pass_then_the_column_pass(int inW, int inH, int outW, int outH)
    {
        // Pillow's definition of the 2-D resize: every row resized (rounded to uint8) into an [inH, outW] image, then every
        // column of that. Built here from 1-row and 1-column resizes; the 2-D call streams its rows instead.
        var src = new byte[inW * inH * 3];
        new Random(inW * 1000 + inH).NextBytes(src);
        var mid = new byte[inH * outW * 3];
        for (int y = 0; y < inH; y++)
            Resample.ResizePilRgb8(src.AsSpan(y * inW * 3, inW * 3), inW, 1, outW, 1).CopyTo(mid, y * outW * 3);
        var expected = new byte[outH * outW * 3];
        var column = new byte[inH * 3];
        for (int x = 0; x < outW; x++)
        {
            for (int y = 0; y < inH; y++) Array.Copy(mid, (y * outW + x) * 3, column, y * 3, 3);
            var resized = Resample.ResizePilRgb8(column, 1, inH, 1, outH);
            for (int y = 0; y < outH; y++) Array.Copy(resized, y * 3, expected, (y * outW + x) * 3, 3);
        }

        Resample.ResizePilRgb8(src, inW, inH, outW, outH).Should().Equal(expected);
    }
}
