using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ModelForge.Converters.IO;

/// <summary>
/// An input file that cannot be used as one: a FIFO, socket or device, a symbolic-link loop, or more bytes than the cap
/// allows. The message is one line naming the file. Derives from IOException so readers that name their file keep working.
/// </summary>
public sealed class InputFileException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>What kind of file system entry a path is (after following links).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    SymlinkLoop,
    Other,
}

/// <summary>
/// Regular-file-only, bounded reading of user inputs. A FIFO would block open(2) forever, /dev/zero never ends and procfs
/// files report length 0, so neither the kind nor the size of a file is taken from what a path merely claims: the kind is
/// checked with statx before open and again on the open handle, and reads stop one byte past the cap whatever the length says.
/// </summary>
public static partial class SafeFile
{
    /// <summary>What <paramref name="path"/> is, following links (statx; on systems without it every existing file counts as
    /// regular).</summary>
    public static FileKind KindOf(string path) => Stat(path, follow: true)?.Kind ?? FallbackKind(path);

    /// <summary>Device and inode of what <paramref name="path"/> names (following links), or null when it does not exist or is
    /// unknown.</summary>
    public static (ulong Device, ulong Inode)? Identity(string path)
        => Stat(path, follow: true) is { Kind: not FileKind.Missing and not FileKind.SymlinkLoop } s ? (s.Device, s.Inode) : null;

    /// <summary>Why <paramref name="path"/> cannot be read as an input file ("is a FIFO ..."), or null for a regular or missing
    /// file.</summary>
    public static string? Defect(string path) =>
        KindOf(path) is var kind && kind is FileKind.Regular or FileKind.Missing ? null
            : $"{Describe(kind)}, not a regular file; only regular files are read";

    /// <summary>Throws <see cref="InputFileException"/> unless <paramref name="path"/> is a regular file (or a link to one).</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">How the message names it, e.g. "--config" or "checkpoint".</param>
    public static void RequireRegular(string path, string what)
    {
        var kind = KindOf(path);
        if (kind == FileKind.Regular) return;
        if (kind == FileKind.Missing) throw new FileNotFoundException($"{Label(what, path)}: no such file");
        throw new InputFileException($"{Label(what, path)}: {Describe(kind)}, not a regular file; only regular files are read");
    }

    /// <summary>Opens a regular file for reading (checked before and after open, so a FIFO never blocks the open for long).</summary>
    public static FileStream OpenRead(string path, string what, FileOptions options = FileOptions.None)
    {
        RequireRegular(path, what);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, options);
        var kind = StatHandle(stream.SafeFileHandle);
        if (kind is not null and not FileKind.Regular)
        {
            stream.Dispose();
            throw new InputFileException($"{Label(what, path)}: {Describe(kind.Value)}, not a regular file; only regular files are read");
        }
        return stream;
    }

    /// <summary>
    /// Reads a whole regular file of at most <paramref name="maxBytes"/> bytes. The reported length is not trusted: reading
    /// stops at <paramref name="maxBytes"/> + 1 bytes and refuses the file if that many came.
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        using var s = OpenRead(path, what);
        return ReadBounded(s, maxBytes, Label(what, path));
    }

    /// <summary>Reads a stream to its end, refusing more than <paramref name="maxBytes"/> bytes (memory stays under the cap + one
    /// buffer).</summary>
    public static byte[] ReadBounded(Stream s, long maxBytes, string label)
    {
        long reported = s.CanSeek ? s.Length : 0;
        if (reported > maxBytes) throw new InputFileException($"{label}: {reported:N0} bytes, over the limit of {maxBytes:N0}");
        using var buffer = new MemoryStream(reported > 0 ? (int)reported : 0);
        var chunk = new byte[1 << 16];
        while (true)
        {
            int n = s.Read(chunk, 0, (int)Math.Min(chunk.Length, maxBytes + 1 - buffer.Length));
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
            if (buffer.Length > maxBytes)
                throw new InputFileException($"{label}: more than the limit of {maxBytes:N0} bytes (whatever length it reports)");
        }
        return buffer.ToArray();
    }

    private static string Label(string what, string path) => what.StartsWith('-') ? $"{what} {path}" : path;

    /// <summary>Words for a kind, as in the error line.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "is a FIFO (named pipe)",
        FileKind.Socket => "is a socket",
        FileKind.CharacterDevice => "is a character device",
        FileKind.BlockDevice => "is a block device",
        FileKind.Directory => "is a folder",
        FileKind.SymlinkLoop => "is a loop of symbolic links",
        FileKind.Missing => "does not exist",
        _ => "is not a regular file",
    };

    private static FileKind FallbackKind(string path) =>
        Directory.Exists(path) ? FileKind.Directory : File.Exists(path) ? FileKind.Regular : FileKind.Missing;

    private sealed record Status(FileKind Kind, ulong Device, ulong Inode);

    // statx has one layout on every Linux architecture (unlike struct stat): stx_mode u16 at 28, stx_ino u64 at 32,
    // stx_dev_major/minor u32 at 136/140.
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int Eloop = 40;
    private static bool _noStatx;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    private static Status? Stat(string path, bool follow)
    {
        if (_noStatx || !OperatingSystem.IsLinux()) return null;
        Span<byte> buf = stackalloc byte[256];
        try
        {
            if (StatX(AtFdCwd, path, follow ? 0 : AtSymlinkNoFollow, StatxBasicStats, buf) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // ENOENT / ENOTDIR: nothing there; anything else (EACCES...) is left to open(2) to report.
                return errno switch
                {
                    Eloop => new Status(FileKind.SymlinkLoop, 0, 0),
                    2 or 20 => new Status(FileKind.Missing, 0, 0),
                    _ => null,
                };
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _noStatx = true;
            return null;
        }
        return Parse(buf);
    }

    private static FileKind? StatHandle(SafeFileHandle handle)
    {
        if (_noStatx || !OperatingSystem.IsLinux()) return null;
        Span<byte> buf = stackalloc byte[256];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            return StatX(fd, "", AtEmptyPath, StatxBasicStats, buf) == 0 ? Parse(buf).Kind : null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _noStatx = true;
            return null;
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private static Status Parse(ReadOnlySpan<byte> buf)
    {
        int mode = BitConverter.ToUInt16(buf[28..30]) & 0xF000;
        ulong ino = BitConverter.ToUInt64(buf[32..40]);
        ulong dev = ((ulong)BitConverter.ToUInt32(buf[136..140]) << 32) | BitConverter.ToUInt32(buf[140..144]);
        var kind = mode switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            _ => FileKind.Other,
        };
        return new Status(kind, dev, ino);
    }
}
