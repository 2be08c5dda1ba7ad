// Compiled by MSBuild's RoslynCodeTaskFactory (see TorchSharpGlibcxxFix.targets); not part of any project.
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so needs GLIBCXX_3.4.32 (GCC 13's libstdc++) for exactly one
// symbol, std::ios_base_library_init(). Debian 12's libstdc++ stops at GLIBCXX_3.4.30, so the library fails
// to load. Fix A of docs/ENVIRONMENT.md, applied to the COPY in a build/publish folder (never ~/.nuget):
//  (1) mark the GLIBCXX_3.4.32 version requirement weak, so a missing version is no load error;
//  (2) make the symbols bound to that version unversioned (versym 1 = global);
//  (3) rename _ZSt21ios_base_library_initv to sched_yield, an existing no-argument libc function
//      (libstdc++ 12 initialises iostreams itself, so the call is not needed). The new name is
//      shorter, so it is written in place and no size or offset changes.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class TorchSharpGlibcxxFix : Task
{
    const string Version = "GLIBCXX_3.4.32";
    const string OldName = "_ZSt21ios_base_library_initv";
    const string NewName = "sched_yield";

    /// <summary>Candidate paths of libLibTorchSharp.so; those that do not exist are ignored.</summary>
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        // The library in the output is the linux-x64 one; on other hosts the system libstdc++ says nothing about it.
        if (RuntimeInformation.OSArchitecture != Architecture.X64 || !SystemLibstdcxxLacksVersion()) return true;
        foreach (var item in Files)
        {
            string path = Path.GetFullPath(item.ItemSpec);
            if (!File.Exists(path)) continue;
            try { PatchFile(path); }
            catch (Exception e) // bad layout (InvalidData, out-of-range offsets, overflow) or I/O: stop the build
            {
                Log.LogError($"TorchSharpGlibcxxFix: cannot patch {path} (unexpected ELF layout?): {e.GetType().Name}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    // Only a libstdc++ older than GCC 13 needs the fix (Ubuntu 24.04, Debian 13, the GPU machine do not).
    // The first libstdc++.so.6 in the dynamic loader's usual x86-64 directories is the one that will be loaded
    // (what `ldconfig -p` would list first); scanning it for the version string takes a few milliseconds.
    static readonly string[] LibDirs =
    {
        "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/local/lib64",
        "/usr/local/lib", "/usr/lib", "/lib",
    };

    static bool SystemLibstdcxxLacksVersion()
    {
        foreach (var dir in LibDirs)
        {
            string p = Path.Combine(dir, "libstdc++.so.6");
            if (!File.Exists(p)) continue;
            byte[] lib = File.ReadAllBytes(p), v = Encoding.ASCII.GetBytes(Version);
            for (long i = 0; i <= lib.Length - v.Length; i++) if (At(lib, v, i)) return false;
            return true;
        }
        return false; // no known libstdc++: nothing to compare against, leave the library alone
    }

    void PatchFile(string path)
    {
        byte[] d = File.ReadAllBytes(path);
        if (d.Length < 64 || d[0] != 0x7f || d[1] != 'E' || d[2] != 'L' || d[3] != 'F' || d[4] != 2 || d[5] != 1)
            throw new InvalidDataException("not an ELF64 little-endian file");
        if (U16(d, 0x12) != 62) throw new InvalidDataException("not an x86-64 library (e_machine " + U16(d, 0x12) + ")");

        // Section headers; sections are found by name through .shstrtab.
        long shoff = (long)U64(d, 0x28);
        int shentsize = U16(d, 0x3A), shnum = U16(d, 0x3C), shstrndx = U16(d, 0x3E);
        if (shentsize != 64 || shnum == 0 || shstrndx >= shnum) throw new InvalidDataException("bad section header table");
        long Hdr(int i) => shoff + (long)i * shentsize;
        long shstr = (long)U64(d, Hdr(shstrndx) + 0x18);
        long dynsym = -1, dynsymSize = 0, dynstr = -1, versym = -1, verneed = -1;
        for (int i = 0; i < shnum; i++)
        {
            long h = Hdr(i), off = (long)U64(d, h + 0x18), size = (long)U64(d, h + 0x20);
            if (off + size > d.Length) throw new InvalidDataException("section beyond end of file");
            switch (CStr(d, shstr + U32(d, h)))
            {
                case ".dynsym": dynsym = off; dynsymSize = size; break;
                case ".dynstr": dynstr = off; break;
                case ".gnu.version": versym = off; break;
                case ".gnu.version_r": verneed = off; break;
            }
        }
        if (dynsym < 0 || dynstr < 0 || versym < 0 || verneed < 0)
            throw new InvalidDataException("missing .dynsym/.dynstr/.gnu.version/.gnu.version_r");

        // (1) Verneed entries (16 bytes: version, cnt, file, aux, next), each with a chain of
        // Vernaux entries (16 bytes: hash, flags, other, name, next).
        bool changed = false;
        int other = -1;
        for (long vn = verneed; ; )
        {
            long va = vn + U32(d, vn + 8);
            for (int k = U16(d, vn + 2); k > 0; k--)
            {
                if (CStr(d, dynstr + U32(d, va + 8)) == Version)
                {
                    other = U16(d, va + 6);
                    if ((d[va + 4] & 0x2) == 0) { d[va + 4] |= 0x2; changed = true; } // VER_FLG_WEAK
                }
                uint next = U32(d, va + 12);
                if (next == 0) break;
                va += next;
            }
            uint vnNext = U32(d, vn + 12);
            if (vnNext == 0) break;
            vn += vnNext;
        }
        if (other < 0) return; // this library does not ask for GLIBCXX_3.4.32: nothing to do

        // (2)+(3) Symbols bound to that version become unversioned; the one name is replaced.
        // A symbol already renamed by an earlier run is recognised by its name (its versym is 1 by then).
        byte[] oldName = Encoding.ASCII.GetBytes(OldName + "\0"), newName = Encoding.ASCII.GetBytes(NewName + "\0");
        for (long i = 0; i < dynsymSize / 24; i++)
        {
            long vs = versym + 2 * i, name = dynstr + U32(d, dynsym + 24 * i);
            bool bound = (U16(d, vs) & 0x7fff) == other; // bit 15 = hidden
            if (bound) { d[vs] = 1; d[vs + 1] = 0; changed = true; }
            if ((bound || U16(d, vs) == 1) && At(d, oldName, name))
            {
                Array.Copy(newName, 0, d, name, newName.Length);
                changed = true;
            }
        }
        if (!changed) return; // already patched: leave the file (and its timestamp) alone

        // Write next to the original and swap it in, so a failure never leaves a half-written library, and so a
        // copy that the SDK hard-linked or symlinked to ~/.nuget (CreateHardLinksForCopyLocalIfPossible) is
        // replaced by a new file instead of being edited through the link: the NuGet cache is never touched.
        // Keeping the copy's timestamp (same size too) lets the SDK's "skip unchanged files" copy
        // recognise it on the next build instead of copying the original over it again.
        DateTime stamp = File.GetLastWriteTimeUtc(path);
        string tmp = path + ".tsfix.tmp";
        File.WriteAllBytes(tmp, d);
        File.SetLastWriteTimeUtc(tmp, stamp);
        File.Replace(tmp, path, null); // rename(2) on Unix (File.Move with overwrite is not in netstandard)
        Log.LogMessage(MessageImportance.High, $"Patched libLibTorchSharp.so for {Version} (Debian 12 libstdc++): {path}");
    }

    static ushort U16(byte[] d, long o) => BitConverter.ToUInt16(d, checked((int)o));
    static uint U32(byte[] d, long o) => BitConverter.ToUInt32(d, checked((int)o));
    static ulong U64(byte[] d, long o) => BitConverter.ToUInt64(d, checked((int)o));

    static string CStr(byte[] d, long o)
    {
        int end = Array.IndexOf(d, (byte)0, checked((int)o));
        if (end < 0) throw new InvalidDataException("unterminated string");
        return Encoding.ASCII.GetString(d, (int)o, end - (int)o);
    }

    static bool At(byte[] hay, byte[] needle, long at)
    {
        if (at < 0 || at + needle.Length > hay.Length) return false;
        for (int j = 0; j < needle.Length; j++) if (hay[at + j] != needle[j]) return false;
        return true;
    }
}
