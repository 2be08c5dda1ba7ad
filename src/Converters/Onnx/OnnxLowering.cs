using Google.Protobuf;
using ModelForge.Converters.Onnx.Proto;
using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Converters.Onnx;

/// <summary>
/// Lowers IR nodes to ONNX nodes (exhaustive over op kinds; unknown kinds are refused by <see cref="Unsupported"/>
/// before anything is written). Auxiliary constants (shape tensors, slice bounds, GELU coefficients) are small inline
/// initializers named after the node ("node/shape"); symbolic dims become Shape sub-graphs of the graph input that
/// defines the symbol, computed once per symbol.
/// </summary>
internal sealed class OnnxLowering(Graph graph, GraphProto proto, int opset, IReadOnlySet<string>? allowedOps = null)
{
    /// <summary>
    /// Whether a fused ONNX op (Attention, RMSNormalization, Gelu) may be emitted: the target's allowed-op set decides
    /// (null: everything the opset has); otherwise the decomposed form is written.
    /// </summary>
    private bool Allows(string onnxOp) => allowedOps is null || allowedOps.Contains(onnxOp);

    private readonly HashSet<string> _names = CollectNames(graph);
    private readonly Dictionary<string, string> _symbolTensors = [];

    public const int MinOpset = 17, MaxOpset = 23;

    /// <summary>Nodes this lowering cannot express at the opset, as "name (Kind: reason)".</summary>
    public static IReadOnlyList<string> Unsupported(Graph g, int opset)
    {
        var result = new List<string>();
        foreach (var n in g.Nodes)
        {
            string? why = n.Op switch
            {
                Add or Sub or Mul or Div or Neg or Sqrt or Sigmoid or Gelu or Identity or Cast or MatMul or Conv2d
                    or LayerNorm or Softmax or Transpose or Concat or Slice or Pad or RmsNorm or Gather
                    or ScaledDotProductAttention => null,
                // One dim that no input defines (or -1) is written as -1 (see ShapeTensor); every other symbol needs a source input.
                Reshape r => r.Target.Dims.Count(d => Unresolvable(g, d)) <= 1 ? null : SymbolsResolvable(g, r.Target),
                Expand e => SymbolsResolvable(g, e.Target),
                _ => "no ONNX lowering for this op kind",
            };
            if (why is not null) result.Add($"{n.Name} ({n.Op.Kind}: {why})");
        }
        return result;
    }

    private static string? SymbolsResolvable(Graph g, Shape target) =>
        target.Symbols.FirstOrDefault(s => SymbolSource(g, s) is null) is { } missing
            ? $"symbol '{missing}' is not a dimension of any graph input"
            : null;

    /// <summary>A target dim no Shape sub-graph can produce: -1, or a symbol that no graph input has as a whole axis.</summary>
    private static bool Unresolvable(Graph g, Dim d) => d == Dim.Of(-1) || (!d.IsKnown && SymbolSource(g, d.Symbol!) is null);

    private static (string Input, int Axis)? SymbolSource(Graph g, string symbol)
    {
        foreach (var input in g.Inputs)
            for (int a = 0; a < input.Shape.Rank; a++)
                if (input.Shape[a].Symbol == symbol && input.Shape[a].Factor == 1) return (input.Name, a);
        return null;
    }

    private static HashSet<string> CollectNames(Graph g)
    {
        var names = new HashSet<string>(g.Inputs.Select(i => i.Name));
        names.UnionWith(g.Initializers.Select(i => i.Value.Name));
        names.UnionWith(g.Nodes.SelectMany(n => n.Outputs.Select(o => o.Name).Append(n.Name)));
        return names;
    }

    private string Fresh(string name)
    {
        if (_names.Add(name)) return name;
        for (int i = 1; ; i++)
            if (_names.Add($"{name}_{i}")) return $"{name}_{i}";
    }

    private NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs,
        params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = opType, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        proto.Node.Add(n);
        return n;
    }

    private string Temp(string opType, string owner, string[] inputs, params AttributeProto[] attributes)
    {
        string output = Fresh($"{owner}/{opType.ToLowerInvariant()}");
        Node(opType, output, inputs, [output], attributes);
        return output;
    }

    private string Int64s(string owner, string what, params long[] values)
    {
        string name = Fresh($"{owner}/{what}");
        var t = new TensorProto
        {
            Name = name,
            DataType = OnnxTypes.Code(DataType.Int64),
            RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()))
        };
        t.Dims.Add(values.Length);
        proto.Initializer.Add(t);
        return name;
    }

    private string Scalar(string owner, string what, float value, DataType dtype)
    {
        string name = Fresh($"{owner}/{what}");
        proto.Initializer.Add(new TensorProto
        {
            Name = name,
            DataType = OnnxTypes.Code(dtype),
            RawData = ByteString.CopyFrom(TensorMaterializer.Encode([value], dtype))
        });
        return name;
    }

    /// <summary>An int64 [rank] tensor holding the shape; symbolic dims read from the defining graph input at run time.</summary>
    private string ShapeTensor(string owner, Shape target, bool allowInfer)
    {
        int unknown = target.Dims.Count(d => !d.IsKnown || d == Dim.Of(-1));
        if (unknown == 0 || (allowInfer && unknown == 1))
            return Int64s(owner, "shape", target.Dims.Select(d => d.IsKnown ? d.Value : -1).ToArray());
        // Several unknown dims: each symbol read from the input that defines it; a reshape may leave one dim whose symbol
        // no input defines as a whole axis (Qwen2-VL's 4*M next to the frame axis F) to ONNX's -1.
        int inferAt = allowInfer ? target.Dims.ToList().FindIndex(d => Unresolvable(graph, d)) : -1;
        var parts = target.Dims.Select((d, i) => i == inferAt ? Int64s(owner, "dim", -1)
            : d.IsKnown ? Int64s(owner, "dim", d.Value)
            : SymbolDim(owner, d)).ToArray();
        return Temp("Concat", owner, parts, OnnxTypes.Int("axis", 0));
    }

    private string SymbolDim(string owner, Dim d)
    {
        if (!_symbolTensors.TryGetValue(d.Symbol!, out var sym))
        {
            var (input, axis) = SymbolSource(graph, d.Symbol!) ?? throw new InvalidOperationException($"symbol {d.Symbol} has no source");
            sym = Fresh($"dim.{d.Symbol}");
            Node("Shape", sym, [input], [sym], OnnxTypes.Int("start", axis), OnnxTypes.Int("end", axis + 1));
            _symbolTensors[d.Symbol!] = sym;
        }
        return d.Factor == 1 ? sym : Temp("Mul", owner, [sym, Int64s(owner, "factor", d.Factor)]);
    }

    public void Emit(Node node)
    {
        string[] ins = node.Inputs.Select(i => i.Name).ToArray();
        string[] outs = node.Outputs.Select(o => o.Name).ToArray();
        string name = node.Name;
        DataType dtype = node.Outputs[0].DType;
        switch (node.Op)
        {
            case Add: Node("Add", name, ins, outs); break;
            case Sub: Node("Sub", name, ins, outs); break;
            case Mul: Node("Mul", name, ins, outs); break;
            case Div: Node("Div", name, ins, outs); break;
            case Neg: Node("Neg", name, ins, outs); break;
            case Sqrt: Node("Sqrt", name, ins, outs); break;
            case Sigmoid: Node("Sigmoid", name, ins, outs); break;
            case Identity: Node("Identity", name, ins, outs); break;
            case MatMul: Node("MatMul", name, ins, outs); break;
            case Cast c: Node("Cast", name, ins, outs, OnnxTypes.Int("to", OnnxTypes.Code(c.To))); break;
            case Softmax s: Node("Softmax", name, ins, outs, OnnxTypes.Int("axis", s.Axis)); break;
            case Transpose t: Node("Transpose", name, ins, outs, OnnxTypes.Ints("perm", t.Perm.Select(p => (long)p))); break;
            case Concat c: Node("Concat", name, ins, outs, OnnxTypes.Int("axis", c.Axis)); break;
            case Gelu g: EmitGelu(g, name, ins[0], outs[0], dtype); break;
            case ScaledDotProductAttention a: EmitAttention(a, name, ins, outs[0], dtype); break;
            case LayerNorm ln when ln.Statistics != DataType.Float32 && ln.Statistics == dtype:
                EmitLowPrecisionLayerNorm(ln, name, ins, outs[0], dtype);
                break;
            case LayerNorm ln:
                Node("LayerNormalization", name, ins, outs, OnnxTypes.Int("axis", -1), OnnxTypes.Float("epsilon", (float)ln.Epsilon));
                break;
            case Conv2d c:
                var w = node.Inputs[1].Shape;
                Node("Conv", name, ins, outs,
                    OnnxTypes.Ints("kernel_shape", [w[2].Value, w[3].Value]),
                    OnnxTypes.Ints("strides", [c.StrideH, c.StrideW]),
                    OnnxTypes.Ints("pads", [c.PadH, c.PadW, c.PadH, c.PadW]),
                    OnnxTypes.Ints("dilations", [1, 1]),
                    OnnxTypes.Int("group", c.Groups));
                break;
            case RmsNorm rn: EmitRmsNorm(rn, name, ins, outs[0], dtype); break;
            case Gather g: Node("Gather", name, ins, outs, OnnxTypes.Int("axis", g.Axis)); break;
            case Slice s:
                Node("Slice", name,
                    [ins[0], Int64s(name, "starts", s.Start), Int64s(name, "ends", s.End), Int64s(name, "axes", s.Axis)], outs);
                break;
            case Pad p: Node("Pad", name, [ins[0], Int64s(name, "pads", p.Pads)], outs, OnnxTypes.Str("mode", "constant")); break;
            case Reshape r: Node("Reshape", name, [ins[0], ShapeTensor(name, r.Target, allowInfer: true)], outs); break;
            case Expand e: Node("Expand", name, [ins[0], ShapeTensor(name, e.Target, allowInfer: false)], outs); break;
            default: throw new NotSupportedException($"{name}: no ONNX lowering for {node.Op.Kind}");
        }
    }

    /// <summary>
    /// Attention: ONNX Attention-23 on 4-D q/k/v [N, h, S, d] with the bias as its float attn_mask; below opset 23 the
    /// decomposed form MatMul(q, k^T) * scale (+ bias) -> Softmax -> MatMul(., v), which is what the fusion pass matched.
    /// </summary>
    private void EmitAttention(ScaledDotProductAttention a, string name, string[] ins, string y, DataType dtype)
    {
        if (opset >= 23 && Allows("Attention"))
        {
            Node("Attention", name, ins, [y], OnnxTypes.Float("scale", (float)a.Scale));
            return;
        }
        string kT = Temp("Transpose", name, [ins[1]], OnnxTypes.Ints("perm", [0, 1, 3, 2]));
        string scores = Temp("Mul", name, [Temp("MatMul", name, [ins[0], kT]), Scalar(name, "scale", (float)a.Scale, dtype)]);
        if (ins.Length > 3) scores = Temp("Add", name, [scores, ins[3]]);
        string probs = Temp("Softmax", name, [scores], OnnxTypes.Int("axis", -1));
        Node("MatMul", name, [probs, ins[2]], [y]);
    }

    /// <summary>
    /// RMSNorm: RMSNormalization-23 (statistics in f32, its default stash_type) where the opset has it; below, decomposed:
    /// x / sqrt(ReduceMean(x*x, -1) + eps) * scale. ReduceMean takes its axes as an attribute up to opset 17, as an input from 18.
    /// </summary>
    private void EmitRmsNorm(RmsNorm rn, string name, string[] ins, string y, DataType dtype)
    {
        if (opset >= 23 && Allows("RMSNormalization"))
        {
            Node("RMSNormalization", name, ins, [y], OnnxTypes.Int("axis", -1), OnnxTypes.Float("epsilon", (float)rn.Epsilon));
            return;
        }
        string squared = Temp("Mul", name, [ins[0], ins[0]]);
        string mean = opset >= 18
            ? Temp("ReduceMean", name, [squared, Int64s(name, "axes", -1)], OnnxTypes.Int("keepdims", 1))
            : Temp("ReduceMean", name, [squared], OnnxTypes.Ints("axes", [-1]), OnnxTypes.Int("keepdims", 1));
        string rms = Temp("Sqrt", name, [Temp("Add", name, [mean, Scalar(name, "eps", (float)rn.Epsilon, dtype)])]);
        Node("Mul", name, [Temp("Div", name, [ins[0], rms]), ins[1]], [y]);
    }

    /// <summary>
    /// LayerNorm with statistics in f16/bf16 (a plan without the LayerNorm island): written as its formula in that type,
    /// (x - mean) / sqrt(mean((x - mean)^2) + eps) * scale + bias, because ONNX Runtime's LayerNormalization kernel computes
    /// f16 statistics in f32 whatever stash_type says, which would hide what a strongly typed consumer computes.
    /// </summary>
    private void EmitLowPrecisionLayerNorm(LayerNorm ln, string name, string[] ins, string y, DataType dtype)
    {
        string Mean(string v) => opset >= 18
            ? Temp("ReduceMean", name, [v, Int64s(name, "axes", -1)], OnnxTypes.Int("keepdims", 1))
            : Temp("ReduceMean", name, [v], OnnxTypes.Ints("axes", [-1]), OnnxTypes.Int("keepdims", 1));
        string centered = Temp("Sub", name, [ins[0], Mean(ins[0])]);
        string variance = Mean(Temp("Mul", name, [centered, centered]));
        string std = Temp("Sqrt", name, [Temp("Add", name, [variance, Scalar(name, "eps", (float)ln.Epsilon, dtype)])]);
        Node("Add", name, [Temp("Mul", name, [Temp("Div", name, [centered, std]), ins[1]]), ins[2]], [y]);
    }

    /// <summary>
    /// GELU: the Gelu op from opset 20; below, exact = 0.5 x (1 + erf(x / sqrt 2)), tanh form likewise. The exact form is
    /// written as Mul(Mul(x, 0.5), Add(Erf(Div(x, sqrt 2)), 1)), the pattern ONNX Runtime's GeluFusion matches (it wants
    /// Div by sqrt 2, not Mul by 1/sqrt 2): fused, the five element-wise sweeps of [N, 3072] become one Gelu kernel.
    /// </summary>
    private void EmitGelu(Gelu g, string name, string x, string y, DataType dtype)
    {
        if (opset >= 20 && Allows("Gelu"))
        {
            Node("Gelu", name, [x], [y], OnnxTypes.Str("approximate", g.Tanh ? "tanh" : "none"));
            return;
        }
        string inner;
        if (!g.Tanh)
        {
            inner = Temp("Erf", name, [Temp("Div", name, [x, Scalar(name, "sqrt2", (float)Math.Sqrt(2), dtype)])]);
        }
        else
        {
            string cube = Temp("Mul", name, [Temp("Mul", name, [x, x]), x]);
            string poly = Temp("Add", name, [x, Temp("Mul", name, [cube, Scalar(name, "c", 0.044715f, dtype)])]);
            inner = Temp("Tanh", name, [Temp("Mul", name, [poly, Scalar(name, "sqrt_2_over_pi", (float)Math.Sqrt(2 / Math.PI), dtype)])]);
        }
        string onePlus = Temp("Add", name, [inner, Scalar(name, "one", 1f, dtype)]);
        string half = Temp("Mul", name, [x, Scalar(name, "half", 0.5f, dtype)]);
        Node("Mul", name, [half, onePlus], [y]);
    }
}
