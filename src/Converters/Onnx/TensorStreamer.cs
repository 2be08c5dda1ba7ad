using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Converters.Onnx;

/// <summary>
/// Writes an initializer's bytes (its declared dtype, little-endian, row-major) into a <see cref="ChunkWriter"/> chunk by
/// chunk: the same bytes as <see cref="TensorMaterializer.ReadBytes"/>, without a whole-tensor array per step.
/// Fast paths (the bulk of every checkpoint): a checkpoint tensor read in ranges and converted straight into the write buffer
/// (bf16/f16/f32 -> f32, f32 -> bf16, same type: a plain copy), and a folded weight transpose (<see cref="DerivedData.Transposes"/>)
/// produced output row block by row block from one reused f32 copy of the source. Anything else (small export-time tables)
/// goes through the materializer. Scratch buffers are reused across tensors (they grow to the largest transposed weight).
/// </summary>
internal sealed class TensorStreamer(IWeightSource weights)
{
    /// <summary>Elements per chunk: one f64 chunk (8 bytes each) fills a <see cref="ChunkWriter.BufferBytes"/> buffer.</summary>
    private const int ChunkElements = ChunkWriter.BufferBytes / 8;

    private readonly TensorMaterializer _materializer = new(weights);
    private byte[] _raw = new byte[ChunkWriter.BufferBytes];
    private float[] _source = [];
    private ushort[] _bits = [];
    private float[] _staging = new float[ChunkElements];

    /// <summary>Streams <paramref name="init"/> into <paramref name="sink"/>; returns the number of bytes written.</summary>
    public long Write(Initializer init, ChunkWriter sink)
    {
        var dtype = init.Value.DType;
        long count = init.Value.Shape.ElementCount.Value;
        if (init.Data is WeightData w && weights is IRangeWeightSource range && weights.Describe(w.Key) is { } stored
            && stored.Shape.ElementCount.Value == count && (stored.DType == dtype || (stored.DType.IsFloat() && Encodable(dtype))))
            return WriteWeight(range, w.Key, stored.DType, dtype, count, sink);
        if (init.Data is DerivedData { Transposes: var (rows, cols), Sources: [var source] } && rows * cols == count && Encodable(dtype)
            && count <= Array.MaxLength)
            return WriteTransposed(source, rows, cols, dtype, sink);
        var bytes = _materializer.ReadBytes(init).Span;
        sink.Write(bytes);
        return bytes.Length;
    }

    private static bool Encodable(DataType t) => t is DataType.Float32 or DataType.Float16 or DataType.BFloat16 or DataType.Float64;

    private long WriteWeight(IRangeWeightSource range, string key, DataType stored, DataType dtype, long count, ChunkWriter sink)
    {
        int inSize = stored.SizeOf(), outSize = dtype.SizeOf();
        if (stored == dtype)
        {
            long total = count * inSize;
            for (long done = 0; done < total;)
            {
                int n = (int)Math.Min(ChunkWriter.BufferBytes, total - done);
                var buffer = sink.Next();
                range.ReadRaw(key, done, buffer[..n]);
                sink.Commit(n);
                done += n;
            }
            return total;
        }
        for (long done = 0; done < count;)
        {
            int n = (int)Math.Min(ChunkElements, count - done);
            var raw = _raw.AsSpan(0, n * inSize);
            range.ReadRaw(key, done * inSize, raw);
            var buffer = sink.Next();
            if (dtype == DataType.Float32)
            {
                SafetensorsDTypes.ToFloat32(stored, raw, MemoryMarshal.Cast<byte, float>(buffer)[..n]);
            }
            else
            {
                var floats = _staging.AsSpan(0, n);
                SafetensorsDTypes.ToFloat32(stored, raw, floats);
                Encode(floats, dtype, buffer);
            }
            sink.Commit(n * outSize);
            done += n;
        }
        return count * outSize;
    }

    /// <summary>Source [rows, cols] -> output [cols, rows], written in blocks of whole output rows.</summary>
    private long WriteTransposed(TensorData source, long rows, long cols, DataType dtype, ChunkWriter sink)
    {
        long count = rows * cols;
        var src = LoadSource(source, count);
        int outSize = dtype.SizeOf();
        // Output rows per chunk: as many as fit one write buffer (at least one; a longer row grows the staging buffer).
        long perChunk = Math.Max(1, ChunkWriter.BufferBytes / outSize / rows);
        bool direct = dtype == DataType.Float32 && perChunk * rows * 4 <= ChunkWriter.BufferBytes;
        if (!direct && _staging.Length < perChunk * rows) _staging = new float[perChunk * rows];
        for (long c0 = 0; c0 < cols; c0 += perChunk)
        {
            long c1 = Math.Min(cols, c0 + perChunk);
            int n = (int)((c1 - c0) * rows);
            // f32 out: transposed straight into the write buffer; other types through the f32 staging block.
            var buffer = sink.Next();
            var block = direct ? MemoryMarshal.Cast<byte, float>(buffer)[..n] : _staging.AsSpan(0, n);
            TransposeRows(src, rows, cols, c0, c1, block);
            if (direct)
            {
                sink.Commit(n * 4);
                continue;
            }
            for (int done = 0; done < n;)
            {
                int m = Math.Min(ChunkWriter.BufferBytes / outSize, n - done);
                if (done > 0) buffer = sink.Next();
                Encode(block.Slice(done, m), dtype, buffer);
                sink.Commit(m * outSize);
                done += m;
            }
        }
        return count * outSize;
    }

    /// <summary>A transpose source: f32 values or bf16 bits (exactly one set; the arrays may be longer than the tensor).</summary>
    internal readonly record struct Source(float[]? Floats, ushort[]? BFloat16Bits);

    /// <summary>
    /// The transpose's source in a reused buffer: a bf16 checkpoint tensor as its raw bits (widened inside the transpose,
    /// saving a whole f32 pass), other checkpoint float tensors converted to f32 range by range, anything else materialized.
    /// </summary>
    private Source LoadSource(TensorData source, long count)
    {
        if (source is WeightData w && weights is IRangeWeightSource range && weights.Describe(w.Key) is { } stored
            && stored.DType.IsFloat() && stored.Shape.ElementCount.Value == count)
        {
            if (stored.DType == DataType.BFloat16)
            {
                if (_bits.Length < count) _bits = new ushort[count];
                var bytes = MemoryMarshal.AsBytes(_bits.AsSpan(0, (int)count));
                for (int done = 0; done < bytes.Length;)
                {
                    int n = Math.Min(ChunkWriter.BufferBytes, bytes.Length - done);
                    range.ReadRaw(w.Key, done, bytes.Slice(done, n));
                    done += n;
                }
                return new Source(null, _bits);
            }
            if (_source.Length < count) _source = new float[count];
            int size = stored.DType.SizeOf();
            for (long done = 0; done < count;)
            {
                int n = (int)Math.Min(ChunkElements, count - done);
                var raw = _raw.AsSpan(0, n * size);
                range.ReadRaw(w.Key, done * size, raw);
                SafetensorsDTypes.ToFloat32(stored.DType, raw, _source.AsSpan((int)done, n));
                done += n;
            }
            return new Source(_source, null);
        }
        var data = _materializer.ReadFloat32(source);
        if (data.Length != count) throw new GraphException($"transposed table '{source}' has {data.Length} elements, expected {count}");
        return new Source(data, null);
    }

    /// <summary>
    /// dest[(c - c0) * rows + r] = src[r * cols + c] for output rows c in [c0, c1): 8x8 tiles with AVX2 in 64-row source
    /// bands (the 8 source lines of a tile stay in L1 while the next tiles read them), scalar at the edges.
    /// </summary>
    internal static unsafe void TransposeRows(Source src, long rows, long cols, long c0, long c1, Span<float> dest)
    {
        long available = src.Floats?.LongLength ?? src.BFloat16Bits!.LongLength;
        if (available < rows * cols || dest.Length < (c1 - c0) * rows) throw new ArgumentException("transpose buffers too small");
        const int Band = 64;
        long r = rows, k = cols;
        fixed (float* sf = src.Floats)
        fixed (ushort* sb = src.BFloat16Bits)
        fixed (float* d = dest)
        {
            bool bf16 = sb != null;
            for (long r0 = 0; r0 < r; r0 += Band)
            {
                long r1 = Math.Min(r, r0 + Band);
                long c = c0;
                if (Avx2.IsSupported)
                {
                    for (; c + 8 <= c1; c += 8)
                    {
                        long rr = r0;
                        for (; rr + 8 <= r1; rr += 8)
                        {
                            if (bf16) Tile8(sb + rr * k + c, k, d + (c - c0) * r + rr, r);
                            else Tile8(sf + rr * k + c, k, d + (c - c0) * r + rr, r);
                        }
                        for (; rr < r1; rr++)
                            for (long j = 0; j < 8; j++) d[(c + j - c0) * r + rr] = At(sf, sb, rr * k + c + j);
                    }
                }
                for (; c < c1; c++)
                    for (long rr = r0; rr < r1; rr++) d[(c - c0) * r + rr] = At(sf, sb, rr * k + c);
            }
        }
    }

    private static unsafe float At(float* f, ushort* b, long i) => b != null ? BitConverter.Int32BitsToSingle(b[i] << 16) : f[i];

    /// <summary>8x8 tile from bf16 bits: each row widened to f32 (bits &lt;&lt; 16), then transposed as f32.</summary>
    private static unsafe void Tile8(ushort* src, long srcStride, float* dst, long dstStride)
    {
        static Vector256<float> Row(ushort* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle();
        Tile8(Row(src), Row(src + srcStride), Row(src + 2 * srcStride), Row(src + 3 * srcStride), Row(src + 4 * srcStride),
            Row(src + 5 * srcStride), Row(src + 6 * srcStride), Row(src + 7 * srcStride), dst, dstStride);
    }

    private static unsafe void Tile8(float* src, long srcStride, float* dst, long dstStride) =>
        Tile8(Avx.LoadVector256(src), Avx.LoadVector256(src + srcStride), Avx.LoadVector256(src + 2 * srcStride),
            Avx.LoadVector256(src + 3 * srcStride), Avx.LoadVector256(src + 4 * srcStride), Avx.LoadVector256(src + 5 * srcStride),
            Avx.LoadVector256(src + 6 * srcStride), Avx.LoadVector256(src + 7 * srcStride), dst, dstStride);

    /// <summary>One 8x8 f32 tile (rows a0..a7): row i of the output (stride <paramref name="dstStride"/>) = column i.</summary>
    private static unsafe void Tile8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7, float* dst, long dstStride)
    {
        var t0 = Avx.UnpackLow(a0, a1);
        var t1 = Avx.UnpackHigh(a0, a1);
        var t2 = Avx.UnpackLow(a2, a3);
        var t3 = Avx.UnpackHigh(a2, a3);
        var t4 = Avx.UnpackLow(a4, a5);
        var t5 = Avx.UnpackHigh(a4, a5);
        var t6 = Avx.UnpackLow(a6, a7);
        var t7 = Avx.UnpackHigh(a6, a7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>f32 -> dtype bytes, identical to <see cref="TensorMaterializer.Encode"/> (round to nearest even).</summary>
    internal static void Encode(ReadOnlySpan<float> values, DataType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DataType.Float32:
                MemoryMarshal.AsBytes(values).CopyTo(destination);
                break;
            case DataType.BFloat16:
                SingleToBFloat16(values, MemoryMarshal.Cast<byte, ushort>(destination)[..values.Length]);
                break;
            case DataType.Float16:
                {
                    var d = MemoryMarshal.Cast<byte, ushort>(destination);
                    for (int i = 0; i < values.Length; i++) d[i] = DataTypes.SingleToHalf(values[i]);
                    break;
                }
            case DataType.Float64:
                {
                    var d = MemoryMarshal.Cast<byte, double>(destination);
                    for (int i = 0; i < values.Length; i++) d[i] = values[i];
                    break;
                }
            default:
                throw new GraphException($"cannot encode floating-point data as {dtype.ShortName()}");
        }
    }

    /// <summary>f32 -> bf16 bits, round to nearest even, NaN kept quiet; 8 at a time where Vector256 is accelerated.</summary>
    private static void SingleToBFloat16(ReadOnlySpan<float> values, Span<ushort> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var bits = MemoryMarshal.Cast<float, uint>(values);
            var bias = Vector256.Create(0x7FFFu);
            var one = Vector256.Create(1u);
            var quiet = Vector256.Create(0x40u);
            for (; i <= bits.Length - Vector256<uint>.Count; i += Vector256<uint>.Count)
            {
                var u = Vector256.Create(bits.Slice(i, Vector256<uint>.Count));
                var rounded = Vector256.ShiftRightLogical(u + bias + (Vector256.ShiftRightLogical(u, 16) & one), 16);
                var f = Vector256.Create(values.Slice(i, Vector256<float>.Count));
                var nan = ~Vector256.Equals(f, f).AsUInt32();
                var result = Vector256.ConditionalSelect(nan, Vector256.ShiftRightLogical(u, 16) | quiet, rounded);
                var narrowed = Vector256.Narrow(result, result);   // 8 uint -> 8 ushort in the lower half
                narrowed.GetLower().CopyTo(destination.Slice(i, Vector128<ushort>.Count));
            }
        }
        for (; i < values.Length; i++) destination[i] = DataTypes.SingleToBFloat16(values[i]);
    }
}
