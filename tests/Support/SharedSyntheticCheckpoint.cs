using System.Security.Cryptography;
using ModelForge.Tools;

namespace ModelForge.Tests.Support;

/// <summary>
/// The released-size synthetic DeepEncoder checkpoint (tools/SynthDeepEncoder, ~800 MB), written ONCE per test run and
/// shared by every test that needs it (it used to be written per test class: 3 x 800 MB of disk writes). The writer is
/// checked once, by md5, right after writing; the folder is deleted when the test process exits. Thread-safe.
/// </summary>
public static class SharedSyntheticCheckpoint
{
    private static readonly Lazy<string> Folder = new(Write, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The folder holding model.safetensors (do not write into it: copy files beside it in your own TempDir).</summary>
    public static string Directory => Folder.Value;

    /// <summary>The single-file checkpoint.</summary>
    public static string File => Path.Combine(Folder.Value, SyntheticDeepEncoderCheckpoint.SingleFileName);

    /// <summary>
    /// Makes <paramref name="dest"/> a hard link to the shared file (a regular file for every reader, no 800 MB copy);
    /// copies when the file system cannot link.
    /// </summary>
    public static void LinkInto(string dest)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ln") { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add(File);
        psi.ArgumentList.Add(dest);
        try
        {
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.WaitForExit();
            if (p.ExitCode == 0) return;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No `ln`: copy below.
        }
        System.IO.File.Copy(File, dest, overwrite: true);
    }

    /// <summary>How long writing took (the test that checks the writer reports it).</summary>
    public static TimeSpan WriteTime { get; private set; }

    private static string Write()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"modelforge-test-synth-{Environment.ProcessId}");
        if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, true);
        System.IO.Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(dir, true);
            }
            catch (IOException)
            {
            }
        };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        SyntheticDeepEncoderCheckpoint.WriteSingle(dir);
        WriteTime = clock.Elapsed;
        string path = Path.Combine(dir, SyntheticDeepEncoderCheckpoint.SingleFileName);
        using (var f = System.IO.File.OpenRead(path))
        {
            string md5 = Convert.ToHexStringLower(MD5.HashData(f));
            if (md5 != SyntheticDeepEncoderCheckpoint.SingleFileMd5)
                throw new InvalidOperationException($"synthetic checkpoint md5 {md5}, expected " +
                    $"{SyntheticDeepEncoderCheckpoint.SingleFileMd5}");
        }
        return dir;
    }
}
