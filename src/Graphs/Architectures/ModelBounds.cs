using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelForge.Graphs.Architectures.DeepEncoder;
using ModelForge.Graphs.Architectures.DeepEncoder2;
using ModelForge.Graphs.Architectures.InternVl2;
using ModelForge.Graphs.Architectures.Qwen2Vl;
using ModelForge.Graphs.Architectures.Vary;
using ModelForge.Graphs.Blocks;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Architectures;

/// <summary>One term of a size estimate: what it is (the fields it comes from, with their values) and its size.</summary>
public sealed record SizeTerm(string Fields, double Size);

/// <summary>
/// Cheap size estimates from config numbers alone, checked before any graph is built: a config that describes an absurd
/// model (sam.depth 100000, clip.num_layers 10^6, dimensions in the billions) is refused in microseconds, naming the
/// field, instead of building millions of nodes or tensors of terabytes. The estimates are per family, in doubles (no
/// overflow): parameters = the weight matrices of each tower; activation = the largest single fp32 tensor of one
/// image at the config's image size (attention scores heads x tokens², or the MLP's tokens x hidden).
/// </summary>
public static class ModelBounds
{
    /// <summary>Largest parameter count accepted: 16e9 (the largest released vision towers are ~6e9; 64 GB of fp32).</summary>
    public const double MaxParameters = 16e9;

    /// <summary>Largest single activation accepted: 16 GiB of fp32 for one image (more than this machine class can hold).</summary>
    public const double MaxActivationBytes = 16.0 * (1L << 30);

    /// <summary>Most blocks in one tower: 512 (released towers have 12 to 48; each block is ~20 graph nodes).</summary>
    public const int MaxLayers = 512;

    /// <summary>Refuses a block count above <see cref="MaxLayers"/>, before anything is built per block.</summary>
    public static void Layers(string field, int value)
    {
        if (value > MaxLayers)
            throw new GraphException($"config: {field} {value} is above the limit of {MaxLayers} blocks (released towers have 12 to 48)");
    }

    /// <summary>Refuses the config when its parameters or its largest activation are above the limits.</summary>
    public static void Check(IReadOnlyList<SizeTerm> parameters, IReadOnlyList<SizeTerm> activations)
    {
        double total = parameters.Sum(t => t.Size);
        if (!(total <= MaxParameters))
        {
            var top = parameters.MaxBy(t => t.Size)!;
            throw new GraphException(
                $"config: {top.Fields} describe a model of ~{Num(total)} parameters ({Num(top.Size)} from these fields), " +
                $"above the limit of {Num(MaxParameters)}; check those fields");
        }
        var largest = activations.MaxBy(t => t.Size);
        if (largest is not null && !(largest.Size <= MaxActivationBytes))
            throw new GraphException(
                $"config: {largest.Fields} need a single activation of ~{Bytes(largest.Size)} for one image, " +
                $"above the limit of {Bytes(MaxActivationBytes)}; check those fields");
    }

    /// <summary>SAM ViTDet encoder (+ neck and the two strided convolutions).</summary>
    public static (List<SizeTerm> Parameters, List<SizeTerm> Activations) Sam(SamConfig s)
    {
        double d = s.EmbedDim, tokens = Sq((double)s.ImageSize / s.PatchSize), hidden = s.MlpRatio * d;
        var p = new List<SizeTerm>
        {
            new($"sam.depth {s.Depth} x sam.embed_dim {s.EmbedDim} (x sam.mlp_ratio {N(s.MlpRatio)})",
                s.Depth * (4 * d * d + 2 * d * hidden)),
            new($"sam.image_size {s.ImageSize} / sam.patch_size {s.PatchSize} x sam.embed_dim {s.EmbedDim}", tokens * d
                + 3 * Sq(s.PatchSize) * d),
            new($"sam.neck_channels {s.NeckChannels}, sam.net2_channels {s.Net2Channels}, sam.net3_channels {s.Net3Channels}",
                d * s.NeckChannels + 9.0 * s.NeckChannels * s.NeckChannels + 9.0 * s.NeckChannels * s.Net2Channels
                    + 9.0 * s.Net2Channels * s.Net3Channels),
        };
        bool global = s.GlobalAttnIndexes is { Length: > 0 };
        double attnTokens = global ? tokens : Sq(s.WindowSize);
        var a = new List<SizeTerm>
        {
            new($"sam.num_heads {s.NumHeads} x (sam.image_size {s.ImageSize} / sam.patch_size {s.PatchSize})⁴ (global attention)",
                4.0 * s.NumHeads * attnTokens * attnTokens),
            new($"sam.image_size {s.ImageSize} / sam.patch_size {s.PatchSize} x sam.embed_dim {s.EmbedDim} x sam.mlp_ratio {N(s.MlpRatio)}",
                4.0 * tokens * hidden),
        };
        return (p, a);
    }

    /// <summary>A pre-norm ViT tower of <paramref name="layers"/> blocks (CLIP, InternViT, Qwen2-VL's ViT).</summary>
    public static (List<SizeTerm> Parameters, List<SizeTerm> Activations) Tower(string prefix, (string Name, double Value) layers,
        (string Name, double Value) width,
        (string Name, double Value) hidden, int heads, double tokens, string tokensFrom)
    {
        double d = width.Value, f = hidden.Value;
        var p = new List<SizeTerm>
        {
            new($"{prefix}.{layers.Name} {N(layers.Value)} x {prefix}.{width.Name} {N(d)}", layers.Value * 4 * d * d),
            new($"{prefix}.{layers.Name} {N(layers.Value)} x {prefix}.{width.Name} {N(d)} x {prefix}.{hidden.Name} {N(f)}",
                layers.Value * 2 * d * f),
            new($"{tokensFrom} x {prefix}.{width.Name} {N(d)}", tokens * d),
        };
        var a = new List<SizeTerm>
        {
            new($"{prefix}.num_heads {heads} x ({tokensFrom})² (attention scores)", 4.0 * heads * tokens * tokens),
            new($"{tokensFrom} x {prefix}.{hidden.Name} {N(f)}", 4.0 * tokens * f),
        };
        return (p, a);
    }

    /// <summary>CLIP-L style tower of DeepEncoder and Vary.</summary>
    public static (List<SizeTerm> Parameters, List<SizeTerm> Activations) Clip(ClipConfig c) =>
        Tower("clip", ("num_layers", c.NumLayers), ("hidden_size", c.HiddenSize), ("ffn_hidden_size", c.FfnHiddenSize), c.NumHeads,
            Sq((double)c.ImageSize / c.PatchSize) + 1, $"clip.image_size {c.ImageSize} / clip.patch_size {c.PatchSize}");

    public static void Check(DeepEncoderConfig c)
    {
        Layers("sam.depth", c.Sam.Depth);
        Layers("clip.num_layers", c.Clip.NumLayers);
        var (sp, sa) = Sam(c.Sam);
        var (cp, ca) = Clip(c.Clip);
        var proj = new SizeTerm($"projector.input_dim {c.Projector.InputDim} x projector.output_dim {c.Projector.OutputDim}",
            (double)c.Projector.InputDim * c.Projector.OutputDim);
        Check([.. sp, .. cp, proj], [.. sa, .. ca]);
    }

    /// <summary>DeepSeek-OCR 2: SAM + a Qwen2 decoder over SAM's tokens and the learned queries (at views.base_size).</summary>
    public static void Check(DeepEncoder2Config c)
    {
        Layers("sam.depth", c.Sam.Depth);
        Layers("qwen2.num_layers", c.Qwen2.NumLayers);
        var (sp, sa) = Sam(c.Sam);
        double tokens = (double)c.Tokens(c.Views.BaseSize) + c.Queries.Query1024;
        var (qp, qa) = Tower("qwen2", ("num_layers", c.Qwen2.NumLayers), ("hidden_size", c.Qwen2.HiddenSize),
            ("intermediate_size", 1.5 * c.Qwen2.IntermediateSize),
            c.Qwen2.NumHeads, tokens, $"views.base_size {c.Views.BaseSize} tokens + qwen2.query_1024 {c.Queries.Query1024}");
        var proj = new SizeTerm($"projector.input_dim {c.Projector.InputDim} x projector.output_dim {c.Projector.OutputDim}",
            (double)c.Projector.InputDim * c.Projector.OutputDim);
        Check([.. sp, .. qp, proj], [.. sa, .. qa]);
    }

    public static void Check(VaryConfig c)
    {
        Layers("sam.depth", c.Sam.Depth);
        Layers("clip.num_layers", c.Clip.NumLayers);
        var (sp, sa) = Sam(c.Sam);
        var (cp, ca) = Clip(c.Clip);
        var proj = new SizeTerm($"projector.clip_in {c.Projector.ClipIn} + projector.sam_in {c.Projector.SamIn} x " +
            $"projector.output_dim_each {c.Projector.OutputDimEach}",
            ((double)c.Projector.ClipIn + c.Projector.SamIn) * c.Projector.OutputDimEach);
        Check([.. sp, .. cp, proj], [.. sa, .. ca]);
    }

    public static void Check(InternVl2Config c)
    {
        var v = c.Vit;
        Layers("vit.num_layers", v.NumLayers);
        var (p, a) = Tower("vit", ("num_layers", v.NumLayers), ("hidden_size", v.HiddenSize), ("ffn_hidden_size", v.FfnHiddenSize),
            v.NumHeads,
            Sq((double)v.ImageSize / v.PatchSize) + 1, $"vit.image_size {v.ImageSize} / vit.patch_size {v.PatchSize}");
        p.Add(new SizeTerm($"mlp1.in {c.Mlp1.In} x mlp1.hidden {c.Mlp1.Hidden}", (double)c.Mlp1.In * c.Mlp1.Hidden));
        Check(p, a);
    }

    /// <summary>Qwen2-VL has no fixed input size: activations are estimated for 1,024 patches (a 448x448 image).</summary>
    public static void Check(Qwen2VlVisionConfig c)
    {
        Layers("vit.depth", c.Depth);
        var (p, a) = Tower("vit", ("depth", c.Depth), ("embed_dim", c.EmbedDim), ("mlp_ratio x embed_dim", c.MlpRatio * c.EmbedDim),
            c.NumHeads,
            1024, "1024 patches");
        double merged = (double)c.EmbedDim * c.MergeUnit;
        p.Add(new SizeTerm($"vit.embed_dim {c.EmbedDim} x vit.spatial_merge_size² {c.MergeUnit} x vit.hidden_size {c.HiddenSize}",
            merged * merged + merged * c.HiddenSize));
        p.Add(new SizeTerm($"vit.embed_dim {c.EmbedDim} x patch values {c.PatchValues}", (double)c.EmbedDim * c.PatchValues));
        Check(p, a);
    }

    private static double Sq(double x) => x * x;

    private static string N(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Num(double v) => v.ToString("0.##e+0", CultureInfo.InvariantCulture);

    private static string Bytes(double b) => b >= 1L << 40 ? $"{(b / (1L << 40)).ToString("0.#", CultureInfo.InvariantCulture)} TiB"
        : $"{(b / (1L << 30)).ToString("0.#", CultureInfo.InvariantCulture)} GiB";
}

/// <summary>Turns System.Text.Json's messages about a config into one line naming the field and what it expects.</summary>
public static partial class ConfigErrors
{
    [GeneratedRegex(@"converted to ([\w.`\[\]]+?)\.\s")]
    private static partial Regex TargetType();

    /// <summary>"config sam.depth: expected an integer" for a JsonException at $.depth inside the "sam" object.</summary>
    public static GraphException From(string? section, JsonException ex)
    {
        string path = (ex.Path ?? "$").TrimStart('$').TrimStart('.');
        string field = string.Join('.', new[] { section, path }.Where(s => !string.IsNullOrEmpty(s)));
        var m = TargetType().Match(ex.Message + " ");
        string what = m.Success
            ? m.Groups[1].Value switch
            {
                "System.Int32" or "System.Int64" => "expected an integer",
                "System.Double" or "System.Single" => "expected a number",
                "System.Boolean" => "expected true or false",
                "System.String" => "expected a string",
                "System.Int32[]" => "expected an array of integers",
                var t => $"expected a {t[(t.LastIndexOf('.') + 1)..]}",
            }
            : ex.Message.Split(". ")[0];
        return new GraphException($"config {(field.Length > 0 ? field : "document")}: {what}");
    }
}
