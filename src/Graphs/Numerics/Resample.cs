namespace ModelForge.Graphs.Numerics;

/// <summary>The interpolation kernel of a <see cref="ResampleSpec"/>.</summary>
public enum ResampleFilter
{
    /// <summary>Triangle kernel, support 1 (PyTorch "linear"/"bilinear", PIL BILINEAR).</summary>
    Linear,

    /// <summary>Keys cubic convolution kernel, support 2, with parameter <see cref="ResampleSpec.CubicA"/>.</summary>
    Cubic,
}

/// <summary>
/// How to resample: the kernel, the cubic parameter and which of the two index conventions to use.
/// <para>
/// <see cref="Antialias"/> = true is the PIL convention (also PyTorch's <c>antialias=True</c> path, which copies PIL):
/// kernel support widened by max(scale, 1), centre (i + 0.5) * scale, taps clipped to the input range and the weights
/// renormalised to sum 1. <see cref="Antialias"/> = false is PyTorch's plain <c>align_corners=False</c> convention: source
/// index (i + 0.5) * scale - 0.5 (clamped at 0 for linear only), fixed taps, out-of-range indices clamped to the border.
/// </para>
/// </summary>
/// <param name="Filter">Kernel.</param>
/// <param name="CubicA">Keys' a (-0.5 in PIL and PyTorch's antialias path, -0.75 in PyTorch's plain bicubic); unused for linear.</param>
/// <param name="Antialias">PIL-style clipped, renormalised, widened taps (true) or PyTorch's fixed clamped taps (false).</param>
public sealed record ResampleSpec(ResampleFilter Filter, double CubicA, bool Antialias)
{
    /// <summary>PyTorch <c>F.interpolate(mode="bicubic", antialias=True, align_corners=False)</c> (SAM/CLIP position tables).</summary>
    public static ResampleSpec TorchBicubicAntialias { get; } = new(ResampleFilter.Cubic, -0.5, true);

    /// <summary>PyTorch <c>F.interpolate(mode="bicubic", align_corners=False)</c> without antialias (InternViT position table).</summary>
    public static ResampleSpec TorchBicubic { get; } = new(ResampleFilter.Cubic, -0.75, false);

    /// <summary>PyTorch <c>F.interpolate(mode="linear", align_corners=False)</c> (SAM relative-position tables).</summary>
    public static ResampleSpec TorchLinear { get; } = new(ResampleFilter.Linear, 0.0, false);

    /// <summary>PIL <c>Image.resize(size, BICUBIC)</c> weights (same as <see cref="TorchBicubicAntialias"/>).</summary>
    public static ResampleSpec PilBicubic { get; } = new(ResampleFilter.Cubic, -0.5, true);
}

/// <summary>
/// The 1-D weight table of one resize: for every output index, a run of consecutive input indices starting at
/// <see cref="First"/> and one weight per index (out-of-range taps already clipped or folded onto the border).
/// </summary>
public sealed class ResampleWeights
{
    private readonly int[] _first;
    private readonly int[] _count;
    private readonly double[] _values;
    private readonly int _stride;

    internal ResampleWeights(int inLength, int outLength, int[] first, int[] count, double[] values, int stride)
    {
        InLength = inLength;
        OutLength = outLength;
        _first = first;
        _count = count;
        _values = values;
        _stride = stride;
    }

    /// <summary>Input length.</summary>
    public int InLength { get; }

    /// <summary>Output length.</summary>
    public int OutLength { get; }

    /// <summary>Most taps any output index uses.</summary>
    public int MaxTaps => _stride;

    /// <summary>First input index read by output index <paramref name="i"/>.</summary>
    public int First(int i) => _first[i];

    /// <summary>Weights of output index <paramref name="i"/>, for inputs First(i), First(i)+1, ...</summary>
    public ReadOnlySpan<double> Taps(int i) => _values.AsSpan(i * _stride, _count[i]);
}

/// <summary>
/// Separable resampling that reproduces PyTorch's <c>F.interpolate</c> (bicubic with/without antialias, linear) on float
/// data and PIL's <c>Image.resize(BICUBIC)</c> on 8-bit RGB, bit for bit where the reference computes in double.
/// References: PyTorch aten/src/ATen/native/cpu/UpSampleKernel.cpp (<c>_compute_indices_min_size_weights_aa</c>,
/// <c>compute_indices_weights</c>), aten/src/ATen/native/UpSample.h (<c>area_pixel_compute_source_index</c>,
/// <c>cubic_convolution1/2</c>); Pillow src/libImaging/Resample.c (<c>precompute_coeffs</c>,
/// <c>normalize_coeffs_8bpc</c>, <c>ImagingResampleInner</c>).
/// </summary>
/// <remarks>
/// PyTorch computes float tensors' weights and sums in float32; this class computes in double and rounds once at the end,
/// so results agree with PyTorch to float rounding (a few ulps), not bit for bit. The uint8 PIL path is integer
/// arithmetic on the same double weights as Pillow's and is meant to be bit exact.
/// </remarks>
public static class Resample
{
    /// <summary>Fixed-point fraction bits of PIL's 8-bit resampler: 32 - 8 (pixel) - 2 (overshoot headroom).</summary>
    private const int PilPrecisionBits = 32 - 8 - 2;

    /// <summary>Evaluates the kernel of <paramref name="spec"/> at distance <paramref name="x"/> (in input pixels).</summary>
    public static double Kernel(ResampleSpec spec, double x)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (x < 0.0)
        {
            x = -x;
        }

        if (spec.Filter == ResampleFilter.Linear)
        {
            return x < 1.0 ? 1.0 - x : 0.0;
        }

        // Keys (1981) cubic convolution, written in Pillow's operation order so the double results are identical.
        double a = spec.CubicA;
        if (x < 1.0)
        {
            return (((a + 2.0) * x) - (a + 3.0)) * x * x + 1;
        }

        if (x < 2.0)
        {
            return ((((x - 5) * x) + 8) * x - 4) * a;
        }

        return 0.0;
    }

    /// <summary>
    /// Computes the 1-D weight table for resizing a length <paramref name="inLength"/> axis to <paramref name="outLength"/>.
    /// </summary>
    public static ResampleWeights ComputeWeights(int inLength, int outLength, ResampleSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(inLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outLength, 1);
        return spec.Antialias ? AntialiasWeights(inLength, outLength, spec) : ClampedWeights(inLength, outLength, spec);
    }

    /// <summary>Resizes data laid out [channels, inLen] to [channels, outLen].</summary>
    public static float[] Resize1D(ReadOnlySpan<float> src, int channels, int inLen, int outLen, ResampleSpec spec)
    {
        CheckLength(src.Length, channels, 1, inLen);
        var w = ComputeWeights(inLen, outLen, spec);
        var dst = new float[channels * outLen];
        for (int c = 0; c < channels; c++)
        {
            var row = src.Slice(c * inLen, inLen);
            for (int i = 0; i < outLen; i++)
            {
                dst[c * outLen + i] = (float)Dot(row, w.First(i), w.Taps(i));
            }
        }

        return dst;
    }

    /// <summary>Resizes data laid out [channels, inH, inW] (row-major) to [channels, outH, outW]; width pass first.</summary>
    public static float[] Resize2D(
        ReadOnlySpan<float> src, int channels, int inH, int inW, int outH, int outW, ResampleSpec spec)
    {
        CheckLength(src.Length, channels, inH, inW);
        var wx = ComputeWeights(inW, outW, spec);
        var wy = ComputeWeights(inH, outH, spec);

        // Horizontal pass: [C, inH, inW] -> [C, inH, outW], kept in double so only the final store rounds.
        var mid = new double[channels * inH * outW];
        for (int r = 0; r < channels * inH; r++)
        {
            var row = src.Slice(r * inW, inW);
            for (int x = 0; x < outW; x++)
            {
                mid[r * outW + x] = Dot(row, wx.First(x), wx.Taps(x));
            }
        }

        // Vertical pass: [C, inH, outW] -> [C, outH, outW].
        var dst = new float[channels * outH * outW];
        for (int c = 0; c < channels; c++)
        {
            int planeIn = c * inH * outW;
            int planeOut = c * outH * outW;
            for (int y = 0; y < outH; y++)
            {
                int first = wy.First(y);
                var taps = wy.Taps(y);
                for (int x = 0; x < outW; x++)
                {
                    double s = 0.0;
                    for (int k = 0; k < taps.Length; k++)
                    {
                        s += taps[k] * mid[planeIn + (first + k) * outW + x];
                    }

                    dst[planeOut + y * outW + x] = (float)s;
                }
            }
        }

        return dst;
    }

    /// <summary>
    /// PIL <c>Image.resize((outW, outH), Image.BICUBIC)</c> on an 8-bit RGB image stored HWC (interleaved). Mirrors
    /// Pillow's ImagingResampleInner: horizontal pass first, rounded and clipped to uint8, then the vertical pass; a pass
    /// whose size does not change is skipped (Pillow's need_horizontal / need_vertical with the default box).
    /// </summary>
    /// <remarks>
    /// Streams instead of materialising Pillow's intermediate [inH, outW] image: output row y reads the horizontally resized
    /// rows first[y] .. first[y] + count[y] - 1, a window that only moves down, so those rows live in a ring of
    /// (taps) rows and each is computed once. The arithmetic per value (integer sums in tap order, same rounding) is
    /// Pillow's, so the result is bit for bit the same; the memory is the output plus taps x outW x 3 bytes, not a copy of
    /// the input (a 13377 x 13377 page to 1280 x 1280: ~1 MB of scratch instead of 51 MB; a 100 x 1,789,000 strip to
    /// 640 x 3840 would have needed a 3.4 GB intermediate).
    /// </remarks>
    public static byte[] ResizePilRgb8(ReadOnlySpan<byte> rgbInterleaved, int inW, int inH, int outW, int outH)
    {
        const int Bands = 3;
        ArgumentOutOfRangeException.ThrowIfLessThan(inW, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inH, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outW, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outH, 1);
        CheckLength(rgbInterleaved.Length, Bands, inH, inW);

        bool horizontal = outW != inW;
        int rowIn = inW * Bands;
        int rowOut = outW * Bands; // the intermediate rows' length too (= rowIn when there is no horizontal pass)
        var dst = new byte[checked(outH * rowOut)];
        var h = horizontal ? PilFixedPointWeights(inW, outW) : default;
        if (outH == inH)
        {
            for (int y = 0; y < inH; y++)
            {
                var src = rgbInterleaved.Slice(y * rowIn, rowIn);
                if (horizontal) HorizontalRow(src, dst.AsSpan(y * rowOut, rowOut), h);
                else src.CopyTo(dst.AsSpan(y * rowOut, rowOut));
            }

            return dst;
        }

        var (first, count, k, stride) = PilFixedPointWeights(inH, outH);
        // Ring of horizontally resized rows: row r in slot r % stride (count[y] <= stride rows are read per output row).
        var ring = horizontal ? new byte[stride * rowOut] : [];
        var acc = new int[rowOut];
        int next = 0;
        for (int y = 0; y < outH; y++)
        {
            int top = first[y], taps = count[y];
            if (horizontal)
            {
                for (next = Math.Max(next, top); next < top + taps; next++)
                {
                    HorizontalRow(rgbInterleaved.Slice(next * rowIn, rowIn), ring.AsSpan((next % stride) * rowOut, rowOut), h);
                }
            }

            acc.AsSpan().Fill(1 << (PilPrecisionBits - 1));
            for (int t = 0; t < taps; t++)
            {
                int r = top + t;
                ReadOnlySpan<byte> row = horizontal
                    ? ring.AsSpan((r % stride) * rowOut, rowOut)
                    : rgbInterleaved.Slice(r * rowIn, rowIn);
                int weight = k[y * stride + t];
                for (int i = 0; i < rowOut; i++)
                {
                    acc[i] += row[i] * weight;
                }
            }

            var outRow = dst.AsSpan(y * rowOut, rowOut);
            for (int i = 0; i < rowOut; i++)
            {
                outRow[i] = Clip8(acc[i]);
            }
        }

        return dst;
    }

    /// <summary>Pillow's horizontal pass on one RGB row: src [inW * 3] -> dst [outW * 3], fixed point, clipped.</summary>
    private static void HorizontalRow(
        ReadOnlySpan<byte> src, Span<byte> dst, (int[] First, int[] Count, int[] K, int Stride) w)
    {
        const int Bands = 3;
        for (int x = 0; x < w.First.Length; x++)
        {
            int kBase = x * w.Stride;
            int firstByte = w.First[x] * Bands;
            for (int b = 0; b < Bands; b++)
            {
                int ss = 1 << (PilPrecisionBits - 1);
                for (int t = 0; t < w.Count[x]; t++)
                {
                    ss += src[firstByte + t * Bands + b] * w.K[kBase + t];
                }

                dst[x * Bands + b] = Clip8(ss);
            }
        }
    }

    /// <summary>PIL's clip8: arithmetic shift (floor) out of fixed point, then clamp to [0, 255].</summary>
    private static byte Clip8(int ss)
    {
        int v = ss >> PilPrecisionBits;
        return (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
    }

    /// <summary>
    /// Pillow's normalize_coeffs_8bpc: double weights to Q22 fixed point, rounding half away from zero by truncation.
    /// </summary>
    private static (int[] First, int[] Count, int[] K, int Stride) PilFixedPointWeights(int inLength, int outLength)
    {
        var w = AntialiasWeights(inLength, outLength, ResampleSpec.PilBicubic);
        int stride = w.MaxTaps;
        var first = new int[outLength];
        var count = new int[outLength];
        var k = new int[outLength * stride];
        for (int i = 0; i < outLength; i++)
        {
            first[i] = w.First(i);
            var taps = w.Taps(i);
            count[i] = taps.Length;
            for (int t = 0; t < taps.Length; t++)
            {
                double v = taps[t] * (1 << PilPrecisionBits);
                k[i * stride + t] = v < 0 ? (int)(-0.5 + v) : (int)(0.5 + v);
            }
        }

        return (first, count, k, stride);
    }

    /// <summary>
    /// PIL precompute_coeffs / PyTorch _compute_indices_min_size_weights_aa. For output i:
    /// centre = (i + 0.5) * scale, support = filterSupport * max(scale, 1),
    /// taps x in [trunc(centre - support + 0.5) clipped to 0, trunc(centre + support + 0.5) clipped to inLength),
    /// w(x) = kernel((x - centre + 0.5) / max(scale, 1)), then w /= sum(w).
    /// </summary>
    private static ResampleWeights AntialiasWeights(int inLength, int outLength, ResampleSpec spec)
    {
        double scale = (double)inLength / outLength;
        double filterScale = Math.Max(scale, 1.0);
        double support = (spec.Filter == ResampleFilter.Cubic ? 2.0 : 1.0) * filterScale;
        int stride = ((int)Math.Ceiling(support) * 2) + 1;
        double inverse = 1.0 / filterScale;

        var first = new int[outLength];
        var count = new int[outLength];
        var values = new double[outLength * stride];
        for (int i = 0; i < outLength; i++)
        {
            double center = (i + 0.5) * scale;

            // C's (int) cast truncates toward zero; negative starts are clipped to 0 right after, as in the references.
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inLength);
            int n = Math.Clamp(xmax - xmin, 0, stride);
            double total = 0.0;
            for (int t = 0; t < n; t++)
            {
                double w = Kernel(spec, (t + xmin - center + 0.5) * inverse);
                values[i * stride + t] = w;
                total += w;
            }

            if (total != 0.0)
            {
                for (int t = 0; t < n; t++)
                {
                    values[i * stride + t] /= total;
                }
            }

            first[i] = xmin;
            count[i] = n;
        }

        return new ResampleWeights(inLength, outLength, first, count, values, stride);
    }

    /// <summary>
    /// PyTorch's align_corners=False plain interpolation: src = (i + 0.5) * scale - 0.5 (area_pixel_compute_source_index;
    /// clamped at 0 for linear, not for cubic), i0 = floor(src), t = src - i0. Linear reads i0, i0 + 1 with (1 - t, t);
    /// cubic reads i0 - 1 .. i0 + 2 with kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t). Indices outside
    /// [0, inLength) are clamped to the border, so their weight folds onto the edge sample.
    /// </summary>
    private static ResampleWeights ClampedWeights(int inLength, int outLength, ResampleSpec spec)
    {
        double scale = (double)inLength / outLength;
        bool cubic = spec.Filter == ResampleFilter.Cubic;
        int stride = cubic ? 4 : 2;
        var first = new int[outLength];
        var count = new int[outLength];
        var values = new double[outLength * stride];
        Span<double> raw = stackalloc double[4];
        Span<int> idx = stackalloc int[4];
        for (int i = 0; i < outLength; i++)
        {
            double src = ((i + 0.5) * scale) - 0.5;
            if (!cubic && src < 0)
            {
                src = 0;
            }

            int i0 = (int)Math.Floor(src);
            double t = src - i0;
            int n;
            if (cubic)
            {
                n = 4;
                for (int k = 0; k < 4; k++)
                {
                    idx[k] = Math.Clamp(i0 - 1 + k, 0, inLength - 1);
                }

                raw[0] = Kernel(spec, t + 1.0);
                raw[1] = Kernel(spec, t);
                raw[2] = Kernel(spec, 1.0 - t);
                raw[3] = Kernel(spec, 2.0 - t);
            }
            else
            {
                n = 2;
                idx[0] = Math.Min(i0, inLength - 1);
                idx[1] = Math.Min(i0 + 1, inLength - 1);
                double lambda1 = Math.Clamp(t, 0.0, 1.0);
                raw[0] = 1.0 - lambda1;
                raw[1] = lambda1;
            }

            // Fold the (clamped) taps onto a contiguous run [lo, hi].
            int lo = idx[0];
            int hi = idx[n - 1];
            for (int k = 0; k < n; k++)
            {
                values[i * stride + idx[k] - lo] += raw[k];
            }

            first[i] = lo;
            count[i] = hi - lo + 1;
        }

        return new ResampleWeights(inLength, outLength, first, count, values, stride);
    }

    private static double Dot(ReadOnlySpan<float> row, int first, ReadOnlySpan<double> taps)
    {
        double s = 0.0;
        for (int k = 0; k < taps.Length; k++)
        {
            s += taps[k] * row[first + k];
        }

        return s;
    }

    private static void CheckLength(int actual, int channels, int h, int w)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(h, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(w, 1);
        long expected = (long)channels * h * w;
        if (actual != expected)
        {
            throw new ArgumentException($"source has {actual} elements, expected {channels}x{h}x{w} = {expected}");
        }
    }
}
