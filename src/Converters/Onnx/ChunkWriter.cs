using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;

namespace ModelForge.Converters.Onnx;

/// <summary>
/// A file written in chunks through a small fixed pool of buffers: the exporting thread fills a buffer (<see cref="Next"/>,
/// <see cref="Commit"/>) while one thread writes the committed buffers in order and another feeds them, in order, to SHA-256;
/// a buffer is reused once both are done with it. Conversion, write(2) and hashing so overlap (the file is never read back
/// to hash it), and no tensor is held whole twice: memory is <see cref="Buffers"/> x <see cref="BufferBytes"/> (32 MiB)
/// whatever the file's size. An error on either thread (disk full, I/O error) is rethrown, as the original exception, by
/// the next call on the exporting thread.
/// </summary>
internal sealed class ChunkWriter : IDisposable
{
    /// <summary>Bytes per buffer: large enough that each write(2) is cheap, small enough to stay in L2/L3 while hashed.</summary>
    public const int BufferBytes = 4 << 20;

    private const int Buffers = 8;

    private sealed class Chunk(byte[] data)
    {
        public byte[] Data { get; } = data;

        public int Length;

        public int Pending;
    }

    private readonly FileStream _stream;
    private readonly BlockingCollection<Chunk> _free = new();
    private readonly BlockingCollection<Chunk> _toWrite = new(boundedCapacity: Buffers);
    private readonly BlockingCollection<Chunk> _toHash = new(boundedCapacity: Buffers);
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly CancellationTokenSource _failed = new();
    private readonly Task _writer, _hasher;
    private ExceptionDispatchInfo? _error;
    private Chunk? _current;

    public ChunkWriter(string path)
    {
        // No FileStream buffer: every write is a whole chunk already.
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        for (int i = 0; i < Buffers; i++) _free.Add(new Chunk(new byte[BufferBytes]));
        _writer = Task.Factory.StartNew(() => Drain(_toWrite, c => _stream.Write(c.Data, 0, c.Length)), TaskCreationOptions.LongRunning);
        _hasher = Task.Factory.StartNew(() => Drain(_toHash, c => _hash.AppendData(c.Data, 0, c.Length)), TaskCreationOptions.LongRunning);
    }

    /// <summary>Bytes committed so far (the file offset the next committed byte lands at).</summary>
    public long Position { get; private set; }

    /// <summary>A free buffer of <see cref="BufferBytes"/> bytes to fill; hand it back with <see cref="Commit"/>.</summary>
    public Span<byte> Next()
    {
        if (_current is not null) throw new InvalidOperationException("Next called twice without Commit");
        try
        {
            _current = _free.Take(_failed.Token);
        }
        catch (OperationCanceledException)
        {
            _error!.Throw();
        }
        return _current.Data;
    }

    /// <summary>Queues the first <paramref name="length"/> bytes of the buffer <see cref="Next"/> returned.</summary>
    public void Commit(int length)
    {
        var chunk = _current ?? throw new InvalidOperationException("Commit without Next");
        _current = null;
        if ((uint)length > BufferBytes) throw new ArgumentOutOfRangeException(nameof(length));
        chunk.Length = length;
        chunk.Pending = 2;
        try
        {
            _toWrite.Add(chunk, _failed.Token);
            _toHash.Add(chunk, _failed.Token);
        }
        catch (OperationCanceledException)
        {
            _error!.Throw();
        }
        Position += length;
    }

    /// <summary>Copies arbitrary bytes in (small tensors, tables).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            int n = Math.Min(bytes.Length, BufferBytes);
            bytes[..n].CopyTo(Next());
            Commit(n);
            bytes = bytes[n..];
        }
    }

    /// <summary>Writes <paramref name="count"/> zero bytes (alignment padding).</summary>
    public void WriteZeros(long count)
    {
        while (count > 0)
        {
            int n = (int)Math.Min(count, BufferBytes);
            Next()[..n].Clear();
            Commit(n);
            count -= n;
        }
    }

    /// <summary>Waits for every chunk, flushes the file to disk (fsync) and returns its length and SHA-256 (lower-case hex).</summary>
    public (long Length, string Sha256) Finish()
    {
        _toWrite.CompleteAdding();
        _toHash.CompleteAdding();
        Task.WaitAll(_writer, _hasher);
        _error?.Throw();
        _stream.Flush(flushToDisk: true);
        return (_stream.Length, Convert.ToHexStringLower(_hash.GetHashAndReset()));
    }

    public void Dispose()
    {
        if (!_toWrite.IsAddingCompleted) _toWrite.CompleteAdding();
        if (!_toHash.IsAddingCompleted) _toHash.CompleteAdding();
        Task.WaitAll(_writer, _hasher);   // Drain catches everything: this never throws
        _toWrite.Dispose();
        _toHash.Dispose();
        _free.Dispose();
        _failed.Dispose();
        _hash.Dispose();
        _stream.Dispose();
    }

    /// <summary>One consumer: applies <paramref name="work"/> to each chunk in order; the second one done frees the buffer.</summary>
    private void Drain(BlockingCollection<Chunk> queue, Action<Chunk> work)
    {
        try
        {
            foreach (var chunk in queue.GetConsumingEnumerable())
            {
                if (_error is null) work(chunk);
                if (Interlocked.Decrement(ref chunk.Pending) == 0) _free.Add(chunk);
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
            _failed.Cancel();
        }
    }
}
