using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Numerics;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// CLIP-L vision transformer hyperparameters (DeepSeek-OCR's vision_model, Vary's vision_tower). Defaults are the released
/// CLIP ViT-L/14 at 224. JSON form: fixture.json's "clip" object.
/// </summary>
public sealed record ClipConfig
{
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 14;
    public int HiddenSize { get; init; } = 1024;
    public int NumLayers { get; init; } = 24;
    public int NumHeads { get; init; } = 16;
    public int FfnHiddenSize { get; init; } = 4096;
    public double LayerNormEps { get; init; } = 1e-5;
    public string Activation { get; init; } = "quick_gelu";

    /// <summary>Patch grid of the checkpoint's position table (image_size / patch_size).</summary>
    public int PosGrid => ImageSize / PatchSize;

    /// <summary>Checks the fields on their own; throws GraphException naming the field ("clip.hidden_size ...").</summary>
    public void Validate()
    {
        Config.Require(PatchSize > 0 && ImageSize % PatchSize == 0,
            $"clip.image_size {ImageSize} must be a multiple of clip.patch_size {PatchSize}");
        Config.Require(NumLayers > 0 && NumHeads > 0 && HiddenSize % NumHeads == 0,
            $"clip.hidden_size {HiddenSize} must be divisible by clip.num_heads {NumHeads}");
        Config.Require(FfnHiddenSize > 0, "clip.ffn_hidden_size must be positive");
        Config.Require(LayerNormEps > 0 && double.IsFinite(LayerNormEps), $"clip.layer_norm_eps {LayerNormEps} must be a positive number");
        Config.Require(Activation is not null, "clip.activation must be a string, not null");
        Activations.Parse(Activation!);
    }
}

/// <summary>
/// Where a CLIP checkpoint keeps its encoder layers and how it stores q/k/v: <see cref="HuggingFace"/> is transformers'
/// CLIPVisionModel ("encoder.layers.N.self_attn.{q,k,v}_proj", packed at export time); DeepSeek-OCR's own copy packs them
/// ("transformer.layers.N.self_attn.qkv_proj").
/// </summary>
public sealed record ClipLayout(string Layers, string Qkv, IReadOnlyList<string>? SeparateQkv)
{
    /// <summary>transformers' CLIPVisionModel names.</summary>
    public static ClipLayout HuggingFace { get; } = new("encoder.layers", "qkv_proj", ["q_proj", "k_proj", "v_proj"]);
}

/// <summary>
/// The CLIP vision transformer from patch tokens on: class token, position table (antialiased bicubic when the grid differs
/// from the trained one), pre_layrnorm, then the pre-norm layers. Returns every hidden state as transformers'
/// hidden_states does: [0] = pre_layrnorm output, [i] = output of layer i (1-based), each [B, 1+g², D]; post_layernorm is not
/// applied (none of the families reads it). Weight keys under the caller's scope (e.g. "vision_model").
/// Traces: clip.embeddings, clip.pre_layrnorm, clip.layers.N (0-based) for the first <c>tracedLayers</c> layers.
/// </summary>
public static class ClipTower
{
    /// <summary>HF CLIPVisionEmbeddings' patch embedding: pixels [B, 3, S, S] -> tokens [B, g², D] (conv without bias).</summary>
    public static Value PatchEmbed(GraphBuilder b, ClipConfig c, Value pixels)
    {
        // [B, D, g, g]
        var patches = b.Conv2d("embeddings.patch_embedding", pixels, 3, c.HiddenSize, c.PatchSize, c.PatchSize, bias: false);
        // [B, g², D]
        return b.FlattenSpatial(patches);
    }

    public static IReadOnlyList<Value> HiddenStates(GraphBuilder b, ClipConfig c, Value patchTokens, int grid, ClipLayout layout,
        int? tracedLayers = null)
    {
        Dim batch = patchTokens.Shape[0];
        long d = c.HiddenSize;
        Value x;
        using (b.Scope("embeddings"))
        {
            var cls = b.Expand(b.Reshape(b.Weight("class_embedding", d), 1, 1, d), batch, 1, d);   // [B, 1, D]
            x = b.Concat(1, cls, patchTokens);                                                       // [B, 1+g², D]
            int trained = c.PosGrid;
            var table = b.Weight("position_embedding.weight", (long)trained * trained + 1, d);      // [1+G², D]
            x = b.Add(x, PositionTables.ResizeWithClassRow(b, table, trained, grid, d, "position_embedding.resized",
                ResampleSpec.TorchBicubicAntialias));
        }
        b.Trace("clip.embeddings", x);
        x = b.LayerNorm("pre_layrnorm", x, d, c.LayerNormEps);
        b.Trace("clip.pre_layrnorm", x);
        var states = new List<Value> { x };
        var opts = new VitBlockOptions(d, c.NumHeads, c.FfnHiddenSize, Activations.Parse(c.Activation), c.LayerNormEps,
            Norm1: "layer_norm1", Norm2: "layer_norm2", Attn: "self_attn", Qkv: layout.Qkv, Proj: "out_proj",
                SeparateQkv: layout.SeparateQkv);
        for (int i = 0; i < c.NumLayers; i++)
        {
            using (b.Scope($"{layout.Layers}.{i}")) x = VitBlock.Apply(b, x, opts);
            // Tracing keeps a value alive through pruning, so layers the family does not read are not traced.
            if (i < (tracedLayers ?? c.NumLayers)) b.Trace($"clip.layers.{i}", x);
            states.Add(x);
        }
        return states;
    }
}
