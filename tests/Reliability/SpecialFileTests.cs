using System.Diagnostics;
using System.Net.Sockets;
using FluentAssertions;
using ModelForge.Tests.Support;
using Xunit;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Issue 8.2/8.3: a FIFO, socket or character device in any input position (checkpoint, shard, config, image, ONNX model,
/// external data, manifest, fixture files) is refused up front: exit 2, one line naming the path, within seconds (a FIFO
/// would block open(2) forever; /dev/zero never ends; procfs files report length 0). Every run has a 60 s limit.
/// </summary>
public sealed class SpecialFileTests
{
    private static readonly string TinyDir = Repo.Golden("deepencoder-tiny");
    private static readonly string TinyCkpt = Path.Combine(TinyDir, "model.safetensors");
    private static readonly string TinyConfig = Path.Combine(TinyDir, "fixture.json");
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static void MkFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit(10_000).Should().BeTrue();
        p.ExitCode.Should().Be(0);
    }

    /// <summary>A bound Unix-domain socket at <paramref name="path"/> (disposed with the returned object).</summary>
    private static Socket MkSocket(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        return s;
    }

    private static void ShouldRefuse(CliResult r, string mentions)
    {
        r.ExitCode.Should().Be(2, r.ToString());
        var lines = r.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(1, r.ToString());
        lines[0].Should().Contain(mentions, r.ToString());
        r.Stderr.Should().NotContain("   at ");
    }

    private static CliResult Run(params string[] args) => Support.Cli.Run(Limit, args);

    private static string[] Export(string checkpoint, string config, string output) =>
        ["export", "--arch", "deepencoder", "--checkpoint", checkpoint, "--config", config, "--out", output];

    [Fact]
    public void Checkpoint_that_is_a_fifo_a_socket_or_a_device_is_refused()
    {
        using var tmp = new TempDir();
        MkFifo(tmp.File("pipe.safetensors"));
        ShouldRefuse(Run(Export(tmp.File("pipe.safetensors"), TinyConfig, tmp.File("o1"))), "pipe.safetensors");
        using var socket = MkSocket(tmp.File("sock.safetensors"));
        ShouldRefuse(Run(Export(tmp.File("sock.safetensors"), TinyConfig, tmp.File("o2"))), "sock.safetensors");
        ShouldRefuse(Run(Export("/dev/zero", TinyConfig, tmp.File("o3"))), "/dev/zero");
        Directory.GetDirectories(tmp.Path).Should().BeEmpty();
    }

    [Fact]
    public void Shard_that_is_a_fifo_is_refused()
    {
        using var tmp = new TempDir();
        File.Copy(TinyCkpt, tmp.File("model-00001-of-00002.safetensors"));
        MkFifo(tmp.File("model-00002-of-00002.safetensors"));
        File.WriteAllText(tmp.File("model.safetensors.index.json"),
            "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}");
        ShouldRefuse(Run(Export(tmp.Path, TinyConfig, tmp.File("o"))), "model-00002-of-00002.safetensors");
        MkFifo(tmp.File("index-pipe.safetensors.index.json"));
        ShouldRefuse(Run(Export(tmp.File("index-pipe.safetensors.index.json"), TinyConfig, tmp.File("o"))), "index-pipe");
    }

    [Fact]
    public void Config_that_is_a_fifo_a_device_or_a_procfs_file_is_refused()
    {
        using var tmp = new TempDir();
        MkFifo(tmp.File("config.json"));
        ShouldRefuse(Run(Export(TinyCkpt, tmp.File("config.json"), tmp.File("o"))), "config.json");
        ShouldRefuse(Run(Export(TinyCkpt, "/dev/zero", tmp.File("o"))), "/dev/zero");
        // procfs reports length 0 for every file; the reader must not trust it (here: not JSON, named).
        ShouldRefuse(Run(Export(TinyCkpt, "/proc/self/maps", tmp.File("o"))), "/proc/self/maps");
    }

    [Fact]
    public void Fixture_files_that_are_fifos_are_refused()
    {
        using var tmp = new TempDir();
        foreach (var name in new[] { "fixture.json", "golden.safetensors" })
        {
            string dir = tmp.File(name + "-case");
            Directory.CreateDirectory(dir);
            foreach (var f in Directory.GetFiles(TinyDir).Where(f => Path.GetFileName(f) != name)) File.Copy(f,
                Path.Combine(dir, Path.GetFileName(f)));
            MkFifo(Path.Combine(dir, name));
            ShouldRefuse(Run("validate", "--fixture", dir, "--paths", "exported"), name);
        }
    }

    [Fact]
    public void Validate_inputs_file_that_is_a_fifo_is_refused()
    {
        using var tmp = new TempDir();
        MkFifo(tmp.File("inputs.safetensors"));
        ShouldRefuse(Run("validate", "--arch", "deepencoder", "--checkpoint", TinyCkpt, "--config", TinyConfig, "--inputs",
            tmp.File("inputs.safetensors")), "inputs.safetensors");
    }

    [Fact]
    public void Run_refuses_fifo_images_models_external_data_and_manifests()
    {
        using var tmp = new TempDir();
        string art = tmp.File("art");
        Run([.. Export(TinyCkpt, TinyConfig, art), "--mode", "tiny", "--external-data", "always"]).ExitCode.Should().Be(0);
        string image = Repo.Fixture("golden", "preprocess", "small_300x200.png");

        MkFifo(tmp.File("page.png"));
        ShouldRefuse(Run("run", "--onnx", art, "--image", tmp.File("page.png"), "--out", tmp.File("t.safetensors")), "page.png");
        ShouldRefuse(Run("run", "--onnx", art, "--image", "/dev/zero", "--out", tmp.File("t.safetensors")), "/dev/zero");

        MkFifo(tmp.File("lone.onnx"));
        ShouldRefuse(Run("run", "--onnx", tmp.File("lone.onnx"), "--mode", "tiny", "--image", image, "--out", tmp.File("t.safetensors")),
            "lone.onnx");

        // External data replaced by a FIFO.
        string withPipe = tmp.File("art-pipe-data");
        CopyDir(art, withPipe);
        File.Delete(Path.Combine(withPipe, "global.onnx.data"));
        MkFifo(Path.Combine(withPipe, "global.onnx.data"));
        ShouldRefuse(Run("run", "--onnx", withPipe, "--image", image, "--out", tmp.File("t.safetensors")), "global.onnx.data");

        // manifest.json replaced by a FIFO.
        string withPipeManifest = tmp.File("art-pipe-manifest");
        CopyDir(art, withPipeManifest);
        File.Delete(Path.Combine(withPipeManifest, "manifest.json"));
        MkFifo(Path.Combine(withPipeManifest, "manifest.json"));
        ShouldRefuse(Run("run", "--onnx", withPipeManifest, "--image", image, "--out", tmp.File("t.safetensors")), "manifest.json");
        File.Exists(tmp.File("t.safetensors")).Should().BeFalse();
    }

    [Fact]
    public void Validate_onnx_that_is_a_fifo_is_refused()
    {
        using var tmp = new TempDir();
        MkFifo(tmp.File("model.onnx"));
        ShouldRefuse(Run("validate", "--fixture", TinyDir, "--paths", "exported", "--onnx", tmp.File("model.onnx")), "model.onnx");
    }

    [Fact]
    public void A_loop_of_symbolic_links_is_named()
    {
        using var tmp = new TempDir();
        File.CreateSymbolicLink(tmp.File("a.safetensors"), tmp.File("b.safetensors"));
        File.CreateSymbolicLink(tmp.File("b.safetensors"), tmp.File("a.safetensors"));
        ShouldRefuse(Run(Export(tmp.File("a.safetensors"), TinyConfig, tmp.File("o"))), "a.safetensors");
        File.CreateSymbolicLink(tmp.File("loop-out"), tmp.File("loop-out"));
        ShouldRefuse(Run(Export(TinyCkpt, TinyConfig, tmp.File("loop-out/x"))), "loop-out");
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
