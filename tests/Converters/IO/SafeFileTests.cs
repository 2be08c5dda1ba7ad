using FluentAssertions;
using ModelForge.Converters.IO;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Converters.IO;

/// <summary>Issue 8.3: caps hold for files whose reported length is 0 or wrong (procfs), and kinds come from statx.</summary>
public sealed class SafeFileTests
{
    [Fact]
    public void Procfs_file_reporting_length_0_is_capped_by_what_is_read()
    {
        new FileInfo("/proc/self/maps").Length.Should().Be(0, "procfs reports 0 whatever the content");
        var act = () => SafeFile.ReadAllBytes("/proc/self/maps", 64, "/proc/self/maps");
        act.Should().Throw<InputFileException>().WithMessage("*/proc/self/maps*limit of 64 bytes*");
        SafeFile.ReadAllBytes("/proc/self/maps", 16 << 20, "maps").Length.Should().BeGreaterThan(64);
    }

    [Fact]
    public void Kinds_are_told_apart()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("f"), "x");
        SafeFile.KindOf(tmp.File("f")).Should().Be(FileKind.Regular);
        SafeFile.KindOf(tmp.Path).Should().Be(FileKind.Directory);
        SafeFile.KindOf("/dev/zero").Should().Be(FileKind.CharacterDevice);
        SafeFile.KindOf(tmp.File("missing")).Should().Be(FileKind.Missing);
        File.CreateSymbolicLink(tmp.File("loop"), tmp.File("loop"));
        SafeFile.KindOf(tmp.File("loop")).Should().Be(FileKind.SymlinkLoop);
        File.CreateSymbolicLink(tmp.File("link"), tmp.File("f"));
        SafeFile.Identity(tmp.File("link")).Should().Be(SafeFile.Identity(tmp.File("f")));
        var act = () => SafeFile.ReadAllBytes("/dev/zero", 1 << 20, "--config");
        act.Should().Throw<InputFileException>().WithMessage("--config /dev/zero: is a character device*");
    }
}
