using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Cli;

/// <summary>
/// Issue 9.6: the CLI packs as a .NET tool and the installed `modelforge` runs, as the README shows. The pack reuses the
/// build the tests run on (--no-build, same configuration), the install reads only the fresh package (a nuget.config
/// that clears every other source, so no network), and everything (package, publish folder, tool, NuGet's scratch files
/// via TMPDIR) lives in one temp folder removed afterwards. A fixture validate from the installed tool proves that the
/// TorchSharp and ONNX Runtime natives the package carries (linux-x64 only) load.
/// </summary>
public sealed class ToolPackageTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void The_packed_tool_installs_and_runs()
    {
        using var tmp = new TempDir();
        string scratch = Directory.CreateDirectory(tmp.File("tmp")).FullName;
        // The tests' own build: bin/<configuration>/net10.0 (bin/gpu/<configuration>/... for the GPU flavour).
        var binDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        string configuration = binDir.Parent!.Name;
        bool gpu = binDir.Parent.Parent?.Name == "gpu";

        var clock = Stopwatch.StartNew();
        string[] flavour = gpu ? ["-p:OrtFlavor=gpu"] : [];
        var pack = Run("dotnet", ["pack", Path.Combine(Repo.Root, "src", "Cli"), "--no-build", "-c", configuration,
            "-nodeReuse:false", "-o", tmp.File("pkg"), $"-p:PublishDir={tmp.File("publish")}/", .. flavour], scratch);
        pack.ExitCode.Should().Be(0, pack.ToString());
        var package = Directory.GetFiles(tmp.File("pkg"), "modelforge.*.nupkg").Should().ContainSingle().Subject;
        double packSeconds = clock.Elapsed.TotalSeconds;

        // Only linux-x64 natives travel (README "Installing modelforge as a tool"); libtorch's own test libraries do not.
        using (var zip = ZipFile.OpenRead(package))
        {
            var runtimes = zip.Entries.Select(e => e.FullName).Where(n => n.Contains("/runtimes/", StringComparison.Ordinal)).ToList();
            runtimes.Should().NotBeEmpty().And.OnlyContain(n => n.Contains("/runtimes/linux-x64/", StringComparison.Ordinal));
            runtimes.Should().Contain(n => n.EndsWith("/libonnxruntime.so", StringComparison.Ordinal))
                .And.Contain(n => n.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal))
                .And.NotContain(n => n.EndsWith("/libtorch_python.so", StringComparison.Ordinal));
        }

        File.WriteAllText(tmp.File("nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="modelforge-test" value="{tmp.File("pkg")}" />
              </packageSources>
            </configuration>
            """);
        clock.Restart();
        var install = Run("dotnet", ["tool", "install", "--tool-path", tmp.File("tools"), "--add-source", tmp.File("pkg"),
            "--configfile", tmp.File("nuget.config"), "modelforge"], scratch, isolatedNuGet: true);
        install.ExitCode.Should().Be(0, install.ToString());
        double installSeconds = clock.Elapsed.TotalSeconds;
        string tool = tmp.File("tools/modelforge");
        File.Exists(tool).Should().BeTrue("the tool's command shim is in --tool-path");

        // The installed program is the one the tests built: same version and commit.
        var version = Run(tool, ["--version"], scratch);
        version.ExitCode.Should().Be(0, version.ToString());
        var inTree = Support.Cli.Run("--version");
        version.Stdout.Trim().Should().Be(inTree.Stdout.Trim()).And.StartWith("0.1.0");

        var archs = Run(tool, ["archs", "--json"], scratch);
        archs.ExitCode.Should().Be(0, archs.ToString());
        using (var doc = JsonDocument.Parse(archs.Stdout))
        {
            doc.RootElement.GetProperty("architectures").EnumerateArray().Select(a => a.GetProperty("name").GetString())
                .Should().Contain(["deepencoder", "vary", "internvl2", "qwen2vl"]);
        }

        var validate = Run(tool, ["validate", "--fixture", Repo.Golden("deepencoder-tiny"), "--json"], scratch);
        validate.ExitCode.Should().Be(0, validate.ToString());
        using (var doc = JsonDocument.Parse(validate.Stdout))
            doc.RootElement.GetProperty("report").GetProperty("passed").GetBoolean().Should().BeTrue();

        long packageBytes = new FileInfo(package).Length;
        Counts.WriteLine(output, $"tool package {packageBytes / 1e6:F0} MB: pack {packSeconds:F1} s (--no-build), "
            + $"install {installSeconds:F1} s; installed modelforge ran --version, archs --json and the tiny fixture's validate");
    }

    /// <summary>
    /// Runs a program with TMPDIR inside the test's temp folder (NuGet and MSBuild scratch files go there);
    /// <paramref name="isolatedNuGet"/>: the install extracts into a private NuGet packages folder, never ~/.nuget.
    /// </summary>
    private static CliResult Run(string program, string[] args, string scratch, bool isolatedNuGet = false)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TMPDIR"] = scratch;
        if (isolatedNuGet) psi.Environment["NUGET_PACKAGES"] = Path.Combine(scratch, "nuget-packages");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 5 minutes");
        }

        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}
