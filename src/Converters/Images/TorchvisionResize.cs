namespace ModelForge.Converters.Images;

/// <summary>
/// torchvision <c>F.resize(uint8 image, size, InterpolationMode.BICUBIC, antialias=True)</c> on CPU, which is ATen's
/// <c>_upsample_bicubic2d_aa</c> on uint8 (aten/src/ATen/native/cpu/UpSampleKernel.cpp, HelperInterpCubic, and its AVX2
/// twin UpSampleKernelAVXAntialias.h; both use the same integer arithmetic). It is the resize of transformers' torchvision
/// image processors (Qwen2VLImageProcessorFast), and the one the Qwen2-VL preprocessing golden was made with. It is close
/// to, but not the same as, PIL's BICUBIC (<see cref="PilImageOps.Resize"/>): the weights are the same doubles (Keys
/// cubic, a = -0.5, support 2 * scale when downscaling, normalised to sum 1) but are rounded to int16 with a precision
/// chosen per axis (the largest p &lt; 22 with round(max weight * 2^(p+1)) &lt; 2^15) instead of PIL's fixed 22 bits,
/// so about one value in 500 differs by one grey level.
/// Per axis, horizontal first (on every input row), then vertical, each pass out = clamp((2^(p-1) + sum w_i * x_i) &gt;&gt; p,
/// 0, 255) with an arithmetic shift; an axis whose size does not change is not resampled.
/// </summary>
public static class TorchvisionResize
{
    /// <summary>The resized image; the same size returns a copy.</summary>
    public static RgbImage BicubicAntialias(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        byte[] current = (byte[])image.Pixels.Clone();
        int w = image.Width, h = image.Height;
        if (width != w)
        {
            var axis = Weights(w, width);
            var next = new byte[checked(h * width * 3)];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int ss = 1 << (axis.Precision - 1);
                        for (int t = 0; t < axis.Count[x]; t++)
                            ss += current[(y * w + axis.First[x] + t) * 3 + c] * axis.K[x * axis.Stride + t];
                        next[(y * width + x) * 3 + c] = Clip(ss >> axis.Precision);
                    }
            current = next;
            w = width;
        }

        if (height != h)
        {
            var axis = Weights(h, height);
            int row = w * 3;
            var next = new byte[checked(height * row)];
            for (int y = 0; y < height; y++)
                for (int i = 0; i < row; i++)
                {
                    int ss = 1 << (axis.Precision - 1);
                    for (int t = 0; t < axis.Count[y]; t++)
                        ss += current[(axis.First[y] + t) * row + i] * axis.K[y * axis.Stride + t];
                    next[y * row + i] = Clip(ss >> axis.Precision);
                }
            current = next;
        }

        return new RgbImage(width, height, current);
    }

    /// <summary>One axis: first input index and tap count per output index, int16 taps (stride apart) and their precision.</summary>
    internal sealed record Axis(int[] First, int[] Count, short[] K, int Stride, int Precision);

    /// <summary>HelperInterpBase::_compute_indices_weights_aa + _compute_indices_int16_weights_aa (align_corners false).</summary>
    internal static Axis Weights(int input, int output)
    {
        double scale = (double)input / output;            // area_pixel_compute_scale without a given scale factor
        double support = scale >= 1.0 ? 2.0 * scale : 2.0;  // interp_size 4 * 0.5, widened when downscaling
        int stride = (int)Math.Ceiling(support) * 2 + 1;    // max_interp_size
        double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
        var first = new int[output];
        var count = new int[output];
        var weights = new double[output * stride];
        for (int i = 0; i < output; i++)
        {
            double center = scale * (i + 0.5);
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xsize = Math.Min((int)(center + support + 0.5), input) - xmin;
            double total = 0;
            for (int j = 0; j < xsize; j++)
            {
                double wj = Cubic((j + xmin - center + 0.5) * invscale);
                weights[i * stride + j] = wj;
                total += wj;
            }

            for (int j = 0; j < xsize; j++)
            {
                if (total != 0.0) weights[i * stride + j] /= total;
            }

            (first[i], count[i]) = (xmin, xsize);
        }

        // ATen starts w_max at the first weight and scans every slot, padding zeros included.
        double wMax = weights[0];
        foreach (double v in weights) wMax = Math.Max(wMax, v);
        int precision;
        for (precision = 0; precision < 22; precision++)
        {
            if ((int)(0.5 + wMax * (1 << (precision + 1))) >= 1 << 15) break;
        }

        var k = new short[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            double v = weights[i] * (1 << precision);
            k[i] = (short)(int)(weights[i] < 0 ? -0.5 + v : 0.5 + v);   // C's (int) truncates toward zero
        }

        return new Axis(first, count, k, stride, precision);
    }

    /// <summary>HelperInterpCubic::aa_filter: Keys' cubic convolution with a = -0.5 (ATen's operation order).</summary>
    private static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0.0;
    }

    private static byte Clip(int v) => (byte)Math.Clamp(v, 0, 255);
}
