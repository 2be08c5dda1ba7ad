using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>Activation functions used by the four encoder families.</summary>
public enum Activation
{
    /// <summary>Exact GELU (erf), PyTorch nn.GELU().</summary>
    Gelu,

    /// <summary>GELU, tanh approximation.</summary>
    GeluTanh,

    /// <summary>x * sigmoid(1.702 x), CLIP's quick_gelu.</summary>
    QuickGelu,
}

/// <summary>Parses the activation names found in configs ("gelu", "quick_gelu", "gelu_pytorch_tanh").</summary>
public static class Activations
{
    public static Activation Parse(string name) => name.ToLowerInvariant() switch
    {
        "gelu" => Activation.Gelu,
        "quick_gelu" or "quickgelu" => Activation.QuickGelu,
        "gelu_tanh" or "gelu_pytorch_tanh" or "gelu_new" => Activation.GeluTanh,
        _ => throw new GraphException($"unknown activation '{name}' (expected gelu, quick_gelu or gelu_pytorch_tanh)"),
    };
}

/// <summary>The layers every family is made of; weight keys follow PyTorch module names under the current scope.</summary>
public static class Layers
{
    /// <summary>nn.Linear: x [..., in] -> [..., out]; weight [out, in] as stored, bias [out].</summary>
    public static Value Linear(this GraphBuilder b, string scope, Value x, long inDim, long outDim, bool bias = true)
    {
        using var _ = b.Scope(scope);
        var w = b.Weight("weight", outDim, inDim);
        var y = b.MatMul(x, b.Transpose(w, 1, 0));
        return bias ? b.Add(y, b.Weight("bias", outDim)) : y;
    }

    /// <summary>
    /// Several checkpoint linears over the same input applied as ONE linear: each part's weight [outEach, in] (and bias)
    /// is declared under its own name, and the packed weight [parts*outEach, in] (rows stacked in the given order) and bias
    /// are export-time constants named "<paramref name="packed"/>.weight/.bias". Used where a family stores q/k/v apart but
    /// the shared attention expects the packed qkv; x [..., in] -> [..., parts*outEach].
    /// </summary>
    public static Value PackedLinear(this GraphBuilder b, string packed, IReadOnlyList<string> parts, Value x, long inDim, long outEach,
        bool bias = true)
    {
        long outDim = outEach * parts.Count;
        Value Stack(string what, long[] partShape, long[] packedShape)
        {
            var sources = parts.Select(p =>
            {
                using var _ = b.Scope(p);
                return b.Weight(what, partShape);
            }).ToArray();
            // Row-major [out, in] (or [out]): stacking along out is concatenating the flat arrays.
            return b.Derived($"{packed}.{what}", packedShape, $"{string.Join(" | ", parts)} {what} stacked", sources,
                src => src.SelectMany(a => a).ToArray());
        }
        var w = Stack("weight", [outEach, inDim], [outDim, inDim]);
        var y = b.MatMul(x, b.Transpose(w, 1, 0));
        return bias ? b.Add(y, Stack("bias", [outEach], [outDim])) : y;
    }

    /// <summary>nn.LayerNorm over the last axis (weight, bias [dim]).</summary>
    public static Value LayerNorm(this GraphBuilder b, string scope, Value x, long dim, double eps)
    {
        using var _ = b.Scope(scope);
        return b.LayerNorm(x, b.Weight("weight", dim), b.Weight("bias", dim), eps);
    }

    /// <summary>LayerNorm over channels of NCHW input (SAM's LayerNorm2d): [B, C, H, W] -> NHWC -> LN -> NCHW.</summary>
    public static Value LayerNorm2d(this GraphBuilder b, string scope, Value x, long channels, double eps)
    {
        var nhwc = b.Transpose(x, 0, 2, 3, 1);
        var y = b.LayerNorm(scope, nhwc, channels, eps);
        return b.Transpose(y, 0, 3, 1, 2);
    }

    /// <summary>nn.Conv2d with a square kernel; weight [out, in/groups, k, k], optional bias [out].</summary>
    public static Value Conv2d(this GraphBuilder b, string scope, Value x, long inCh, long outCh, int kernel, int stride = 1, int pad = 0,
        bool bias = true)
    {
        using var _ = b.Scope(scope);
        var w = b.Weight("weight", outCh, inCh, kernel, kernel);
        return b.Conv2d(x, w, bias ? b.Weight("bias", outCh) : null, stride, pad);
    }

    public static Value Activate(this GraphBuilder b, Value x, Activation act) => act switch
    {
        Activation.Gelu => b.Gelu(x),
        Activation.GeluTanh => b.Gelu(x, tanh: true),
        Activation.QuickGelu => b.Mul(x, b.Sigmoid(b.Mul(x, 1.702f))),
        _ => throw new GraphException($"unknown activation {act}"),
    };

    /// <summary>Two-layer MLP: fc2(act(fc1(x))), with the family's module names.</summary>
    public static Value Mlp(this GraphBuilder b, Value x, long dim, long hidden, Activation act, string fc1 = "fc1", string fc2 = "fc2")
    {
        var h = b.Activate(b.Linear(fc1, x, dim, hidden), act);
        return b.Linear(fc2, h, hidden, dim);
    }

    /// <summary>[B, C, H, W] -> [B, H*W, C] (torch: x.flatten(2).transpose(1, 2)).</summary>
    public static Value FlattenSpatial(this GraphBuilder b, Value nchw)
    {
        var s = nchw.Shape;
        var flat = b.Reshape(nchw, s[0], s[1], s[2] * s[3]);
        return b.Transpose(flat, 0, 2, 1);
    }
}
