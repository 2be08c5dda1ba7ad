using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;

namespace ModelForge.Tools.MemoryBench;

/// <summary>The repository root (the folder holding ModelForge.sln), from the working directory or the tool's own folder.</summary>
internal static class Repo
{
    internal static string Root()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "ModelForge.sln"))) return d.FullName;
        throw new InvalidOperationException("run MemoryBench from inside the ModelForge repository");
    }
}

/// <summary>One line naming the machine: OS, cores, memory.</summary>
internal static class Machine
{
    internal static string Describe()
    {
        string os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"')
                ?? "Linux"
            : RuntimeInformation.OSDescription;
        string mem = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))[9..].Trim() : "?";
        return $"{os}, {Environment.ProcessorCount} cores, MemTotal {mem}";
    }
}

/// <summary>
/// Fixture folders for the benchmark: the given fixture's case0 repeated N times (case0..caseN-1, golden tensors copied
/// under each name), its checkpoint linked from <c>ckpt</c> (never copied). The source fixture is only read.
/// </summary>
internal static class Fixtures
{
    internal static string Repeat(string source, string ckpt, string dir, int times)
    {
        Directory.CreateDirectory(dir);
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "fixture.json")))!.AsObject();
        var first = root["cases"]!.AsArray()[0]!;
        var cases = new JsonArray();
        for (int i = 0; i < times; i++)
        {
            var c = first.DeepClone().AsObject();
            c["name"] = $"case{i}";
            cases.Add(c);
        }
        root["cases"] = cases;
        File.WriteAllText(Path.Combine(dir, "fixture.json"), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.CreateSymbolicLink(Path.Combine(dir, "model.safetensors"), Path.GetFullPath(ckpt));
        string name0 = first["name"]!.GetValue<string>();
        using var golden = SafetensorsFile.Open(Path.Combine(source, "golden.safetensors"));
        var tensors = new List<WritableTensor>();
        for (int i = 0; i < times; i++)
            foreach (var t in golden.Tensors.Where(t => t.Name.StartsWith(name0 + ".", StringComparison.Ordinal)))
            {
                var info = t;
                tensors.Add(new WritableTensor($"case{i}" + info.Name[name0.Length..], info.DType, info.Shape,
                    () => golden.GetBytes(info.Name).ToArray()));
            }
        SafetensorsWriter.Write(Path.Combine(dir, "golden.safetensors"), tensors,
            new Dictionary<string, string> { ["content"] = $"{Path.GetFileName(source)} {name0} repeated {times}x (MemoryBench)" });
        return dir;
    }
}

/// <summary>Qwen2-VL processor-style inputs: packed pixel_values [N, 1176] (seeded, uniform in [-1, 1]) + grid_thw.</summary>
internal static class QwenInputs
{
    private const int PatchValues = 3 * 2 * 14 * 14;

    internal static Dictionary<string, HostTensor> Case(long[][] grids)
    {
        long rows = grids.Sum(g => g[0] * g[1] * g[2]);
        var rng = new Random((int)rows);
        var pixels = new float[rows * PatchValues];
        for (long i = 0; i < pixels.LongLength; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        return new Dictionary<string, HostTensor>
        {
            ["pixel_values"] = new([rows, PatchValues], pixels),
            ["grid_thw"] = new([grids.Length, 3], grids.SelectMany(g => g).ToArray()),
        };
    }

    /// <summary>CASE.pixel_values / CASE.grid_thw for each case (validate --inputs: one case per CASE); plain: bare names.</summary>
    internal static void Write(string path, IEnumerable<(string Name, long[][] Grids)> cases, bool plain = false)
    {
        var tensors = new List<WritableTensor>();
        foreach (var (name, grids) in cases)
            foreach (var (k, t) in Case(grids)) tensors.Add(Tensor(plain ? k : name + "." + k, t));
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["content"] = "MemoryBench Qwen2-VL inputs" });
    }

    /// <summary>One graph call's inputs under their own names (bench --inputs).</summary>
    internal static void WriteCall(string path, IReadOnlyDictionary<string, HostTensor> call) =>
        SafetensorsWriter.Write(path, call.Select(kv => Tensor(kv.Key, kv.Value)).ToList());

    private static WritableTensor Tensor(string name, HostTensor t) => t.Floats is { } f
        ? new WritableTensor(name, DataType.Float32, t.Shape, () => MemoryMarshal.AsBytes(f.AsSpan()).ToArray())
        : new WritableTensor(name, DataType.Int64, t.Shape, () => MemoryMarshal.AsBytes(t.Longs!.AsSpan()).ToArray());
}

/// <summary>A CLI command as a child process, with its peak resident set (VmHWM) sampled until it exits.</summary>
internal static class Child
{
    internal sealed record Result(string Label, int ExitCode, long PeakBytes, double Seconds, string Stdout, string LastError);

    internal static Result Run(string cli, string[] args, string work, string label)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
        psi.ArgumentList.Add(cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        string status = $"/proc/{p.Id}/status";
        while (!p.WaitForExit(20))
            peak = Math.Max(peak, Hwm(status));
        p.WaitForExit();
        double seconds = sw.Elapsed.TotalSeconds;
        string err = stderr.Result;
        string last = err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {label}: exit {p.ExitCode}, peak {peak / 1048576} MiB, {seconds:F1} s"
            + (p.ExitCode is 0 or 1 ? "" : $" ({last})"));
        return new Result(label, p.ExitCode, peak, seconds, stdout.Result, last);
    }

    /// <summary>A number named <paramref name="key"/> anywhere in a JSON document (0 when absent or not JSON).</summary>
    internal static long JsonLong(string json, string key)
    {
        try
        {
            return Find(JsonNode.Parse(json)) ?? 0;
        }
        catch (JsonException)
        {
            return 0;
        }

        long? Find(JsonNode? n) => n switch
        {
            JsonObject o => o
                .Select(kv => kv.Key == key && kv.Value is JsonValue v && v.TryGetValue(out double d) ? (long)d : Find(kv.Value))
                .FirstOrDefault(x => x is not null),
            JsonArray a => a.Select(Find).FirstOrDefault(x => x is not null),
            _ => null,
        };
    }

    // VmHWM of a live process in bytes (0 once it is gone).
    private static long Hwm(string status)
    {
        try
        {
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
