using ModelForge.Graphs.Ir;
using ModelForge.Graphs.Ops;

namespace ModelForge.Graphs.Builder;

/// <summary>
/// Facade for writing architectures: scoped names (<c>using (b.Scope("blocks.3")) ...</c>), weights declared by
/// their checkpoint key under the current scope, and one method per op. Every call is type/shape checked at once,
/// so a wrong config fails while building, naming the node, never inside a runtime.
/// </summary>
public sealed class GraphBuilder
{
    private readonly Stack<string> _scopes = new();
    private readonly Dictionary<float, Value> _scalars = [];

    public GraphBuilder(string graphName, DataType computeType = DataType.Float32)
    {
        Graph = new Graph(graphName);
        ComputeType = computeType;
    }

    public Graph Graph { get; }

    /// <summary>Element type of activations and weights in the graph being built.</summary>
    public DataType ComputeType { get; }

    /// <summary>The current scope prefix ("" at top level).</summary>
    public string Prefix => _scopes.Count == 0 ? "" : _scopes.Peek();

    /// <summary>Enters a child scope; dispose to leave it.</summary>
    public IDisposable Scope(string name)
    {
        _scopes.Push(Qualify(name));
        return new ScopeExit(_scopes);
    }

    /// <summary>"prefix.local", or "local" at top level.</summary>
    public string Qualify(string local) => Prefix.Length == 0 ? local : local.Length == 0 ? Prefix : $"{Prefix}.{local}";

    public Value Input(string name, params Dim[] shape) => Graph.AddInput(name, ComputeType, new Shape(shape));

    /// <summary>An int64 graph input (index tensors computed on the host, e.g. a window permutation).</summary>
    public Value IndexInput(string name, params Dim[] shape) => Graph.AddInput(name, DataType.Int64, new Shape(shape));

    /// <summary>A checkpoint weight under the current scope, key "scope.local", in the compute type.</summary>
    public Value Weight(string local, params long[] shape)
    {
        string key = Qualify(local);
        // A checkpoint tensor read twice (DeepSeek-OCR 2's global view and crops in one graph) is one initializer.
        if (Graph.Find(key) is { Initializer.Data: WeightData w } existing && w.Key == key)
            return existing.Shape.Equals(Shape.Known(shape)) ? existing
                : throw new GraphException($"weight '{key}' declared as {Shape.Known(shape)} and {existing.Shape}");
        return Graph.AddInitializer(key, ComputeType, Shape.Known(shape), new WeightData(key));
    }

    /// <summary>A weight already declared by key (shared by several graphs or read twice).</summary>
    public Value WeightByKey(string key, params long[] shape) =>
        Graph.Find(key) is { IsConstant: true } v ? v : Graph.AddInitializer(key, ComputeType, Shape.Known(shape), new WeightData(key));

    /// <summary>A literal constant in the compute type.</summary>
    public Value Constant(string local, float[] data, params long[] shape) =>
        Graph.AddInitializer(Qualify(local), ComputeType, Shape.Known(shape), LiteralData.Of(data), makeUnique: true);

    /// <summary>A rank-0 constant, shared by every use of the same number.</summary>
    public Value Scalar(float v)
    {
        if (_scalars.TryGetValue(v, out var s)) return s;
        string name = "const." + v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return _scalars[v] = Graph.AddInitializer(name, ComputeType, Shape.Scalar, LiteralData.Of(v), makeUnique: true);
    }

    /// <summary>A constant computed at export time from other constants (see <see cref="DerivedData"/>).</summary>
    public Value Derived(string local, long[] shape, string description, IReadOnlyList<Value> sources,
        Func<IReadOnlyList<float[]>, float[]> compute)
    {
        var data = new DerivedData(description,
            sources.Select(s => s.Initializer?.Data
                ?? throw new GraphException($"derived constant '{local}' reads non-constant '{s.Name}'")).ToArray(),
            compute);
        return Graph.AddInitializer(Qualify(local), ComputeType, Shape.Known(shape), data, makeUnique: true);
    }

    public Value Op(Op op, params Value[] inputs) => Graph.AddNode(Qualify(op.Kind.ToLowerInvariant()), op, inputs)[0];

    public Value Add(Value a, Value b) => Op(new Add(), a, b);

    public Value Sub(Value a, Value b) => Op(new Sub(), a, b);

    public Value Mul(Value a, Value b) => Op(new Mul(), a, b);

    public Value Div(Value a, Value b) => Op(new Div(), a, b);

    public Value Mul(Value a, float s) => Mul(a, Scalar(s));

    public Value Neg(Value x) => Op(new Neg(), x);

    public Value Sqrt(Value x) => Op(new Sqrt(), x);

    public Value Sigmoid(Value x) => Op(new Sigmoid(), x);

    public Value Gelu(Value x, bool tanh = false) => Op(new Gelu(tanh), x);

    public Value Cast(Value x, DataType to) => Op(new Cast(to), x);

    public Value MatMul(Value a, Value b) => Op(new MatMul(), a, b);

    public Value Conv2d(Value x, Value w, Value? bias, int stride = 1, int pad = 0, int groups = 1) =>
        bias is null ? Op(new Conv2d(stride, stride, pad, pad, groups), x, w)
            : Op(new Conv2d(stride, stride, pad, pad, groups), x, w, bias);

    public Value LayerNorm(Value x, Value scale, Value bias, double eps) => Op(new LayerNorm(eps), x, scale, bias);

    public Value RmsNorm(Value x, Value scale, double eps) => Op(new RmsNorm(eps), x, scale);

    public Value Softmax(Value x, int axis = -1) => Op(new Softmax(axis), x);

    /// <summary>Fused softmax(q k^T * scale + bias) v (see <see cref="ScaledDotProductAttention"/>).</summary>
    public Value Attention(Value q, Value k, Value v, double scale, Value? bias = null) =>
        bias is null ? Op(new ScaledDotProductAttention(scale), q, k, v) : Op(new ScaledDotProductAttention(scale), q, k, v, bias);
    /// <summary>data[.., indices, ..] along <paramref name="axis"/> (indices: an i64 value, e.g. a graph input).</summary>
    public Value Gather(Value data, Value indices, int axis = 0) => Op(new Gather(axis), data, indices);

    public Value Reshape(Value x, params Dim[] target) => Op(new Reshape(new Shape(target)), x);

    public Value Transpose(Value x, params int[] perm) => Op(new Transpose(perm), x);

    public Value Concat(int axis, params Value[] xs) => Op(new Concat(axis), xs);

    public Value Slice(Value x, int axis, long start, long end) => Op(new Slice(axis, start, end), x);

    public Value Pad(Value x, params long[] pads) => Op(new Pad(pads), x);

    public Value Expand(Value x, params Dim[] target) => Op(new Expand(new Shape(target)), x);

    /// <summary>Names a graph output.</summary>
    public void Output(string name, Value v) => Graph.AddOutput(name, v);

    /// <summary>Records an intermediate value under a reference sub-module name (golden "trace" tensors).</summary>
    public void Trace(string name, Value v) => Graph.AddTrace(name, v);

    private sealed class ScopeExit(Stack<string> scopes) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            scopes.Pop();
        }
    }
}
