using System.Globalization;
using System.Runtime.InteropServices;

namespace ModelForge.Validators.Bench;

/// <summary>
/// This process's resident memory from /proc/self/status (Linux): VmRSS now and VmHWM, the high-water mark. Writing "5"
/// to /proc/self/clear_refs resets the high-water mark to the current RSS (Linux 4.0+), which is how a benchmark gets the
/// peak of one phase; where that is refused (<see cref="ResetPeak"/> returns false) the peak covers the whole process.
/// </summary>
public static class ProcessMemory
{
    /// <summary>Current resident set in bytes (0 where /proc is not available).</summary>
    public static long Rss => Read("VmRSS:");

    /// <summary>Peak resident set in bytes since start or the last successful <see cref="ResetPeak"/>.</summary>
    public static long Peak => Read("VmHWM:");

    /// <summary>Resets the high-water mark to the current RSS; false where the kernel refuses.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Makes glibc serve every block of 64 KiB or more with its own mmap and unmap it on free (mallopt M_MMAP_THRESHOLD,
    /// which also stops glibc raising the threshold dynamically). Without it freed tensors below 32 MiB stay in the heap,
    /// resident, and the high-water mark measures the allocator's history rather than the live tensors. False off glibc.
    /// </summary>
    public static bool ReturnLargeBlocksToOs()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(MmapThreshold, 64 * 1024) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Asks glibc to return freed heap memory to the system (malloc_trim(0)): freed native blocks below the mmap threshold
    /// (ONNX Runtime and libtorch buffers of a finished case) otherwise stay resident in the heap. False off glibc.
    /// </summary>
    public static bool TrimNativeHeap()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private const int MmapThreshold = -3;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);

    private static long Read(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
        return 0;
    }
}
