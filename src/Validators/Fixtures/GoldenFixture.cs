using System.Text.Json;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;

namespace ModelForge.Validators.Fixtures;

/// <summary>A fixture problem the user can fix (missing file, bad JSON, golden tensors that don't fit): one line.</summary>
public sealed class FixtureException(string message) : Exception(message);

/// <summary>One case of a golden fixture: its JSON entry and the golden tensors (inputs, outputs, traces) by short name.</summary>
public sealed record FixtureCase(
    string Name,
    JsonElement Json,
    IReadOnlyDictionary<string, HostTensor> Inputs,
    IReadOnlyDictionary<string, HostTensor> Outputs,
    IReadOnlyDictionary<string, HostTensor> Traces);

/// <summary>
/// A golden fixture folder (format of shared/golden/README.md): fixture.json (architecture, hyperparameters,
/// cases), model.safetensors (checkpoint in the family's released layout), golden.safetensors
/// (caseN.input.*, caseN.output.*, caseN.trace.*) computed by the ORIGINAL PyTorch implementation.
/// </summary>
public sealed class GoldenFixture : IDisposable
{
    private readonly JsonDocument _doc;
    private readonly SafetensorsFile _golden;

    private GoldenFixture(string dir, JsonDocument doc, Architecture arch, Checkpoint checkpoint, SafetensorsFile golden,
        IReadOnlyList<FixtureCase> cases)
    {
        Directory = dir;
        _doc = doc;
        _golden = golden;
        Architecture = arch;
        Checkpoint = checkpoint;
        Cases = cases;
    }

    public string Directory { get; }

    public string Name => _doc.RootElement.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
        ? n.GetString()! : Path.GetFileName(Directory);

    public Architecture Architecture { get; }

    /// <summary>The fixture.json root: also the architecture's config document.</summary>
    public JsonElement Config => _doc.RootElement;

    public Checkpoint Checkpoint { get; }

    public IReadOnlyList<FixtureCase> Cases { get; }

    /// <summary>
    /// Loads and checks a fixture folder; every problem is a <see cref="FixtureException"/> or <see cref="CheckpointFormatException"/>.
    /// </summary>
    public static GoldenFixture Load(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw new FixtureException($"{dir}: fixture folder not found");
        string jsonPath = Path.Combine(dir, "fixture.json");
        if (!File.Exists(jsonPath))
            throw new FixtureException(
                $"{jsonPath}: not found (a fixture folder needs fixture.json, model.safetensors, golden.safetensors)");
        if (new FileInfo(jsonPath).Length > 16 << 20)
            throw new FixtureException($"{jsonPath}: larger than 16 MiB, not a fixture description");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(Converters.IO.SafeFile.ReadAllBytes(jsonPath, 16 << 20, jsonPath),
                new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });
        }
        catch (IOException e)
        {
            throw new FixtureException(e.Message);
        }
        catch (JsonException e)
        {
            throw new FixtureException($"{jsonPath}: not valid JSON ({e.Message.Split('.')[0]})");
        }
        Checkpoint? checkpoint = null;
        SafetensorsFile? golden = null;
        try
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FixtureException($"{jsonPath}: must be a JSON object");
            string archName = root.TryGetProperty("architecture", out var a) && a.ValueKind == JsonValueKind.String
                ? a.GetString()! : throw new FixtureException($"{jsonPath}: no \"architecture\" string");
            Architecture arch;
            try
            {
                arch = ArchitectureRegistry.Get(archName);
            }
            catch (GraphException e)
            {
                throw new FixtureException($"{jsonPath}: {e.Message}");
            }
            if (!root.TryGetProperty("cases", out var casesJson) || casesJson.ValueKind != JsonValueKind.Array
                || casesJson.GetArrayLength() == 0)
                throw new FixtureException($"{jsonPath}: \"cases\" must be a non-empty array");
            CheckBuildable(jsonPath, arch, root, casesJson);
            checkpoint = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
            string goldenPath = Path.Combine(dir, "golden.safetensors");
            golden = SafetensorsFile.Open(goldenPath);
            var cases = ReadCases(golden, goldenPath, jsonPath, casesJson);
            return new GoldenFixture(dir, doc, arch, checkpoint, golden, cases);
        }
        catch
        {
            golden?.Dispose();
            checkpoint?.Dispose();
            doc.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds each case's graph (shapes only, no weights) so that a bad hyperparameter or case entry is reported now,
    /// naming fixture.json, rather than later as a config error that does not say which file it came from.
    /// </summary>
    private static void CheckBuildable(string jsonPath, Architecture arch, JsonElement root, JsonElement casesJson)
    {
        var requests = new HashSet<BuildRequest>();
        foreach (var c in casesJson.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.Object) throw new FixtureException($"{jsonPath}: every case must be a JSON object");
            try
            {
                var request = arch.RequestForCase(c);
                if (requests.Add(request)) arch.Build(root, request);
            }
            catch (GraphException e)
            {
                throw new FixtureException($"{jsonPath}: {e.Message}");
            }
        }
    }

    /// <summary>
    /// The cases, each with views of its golden tensors that read them when asked for (see <see cref="GoldenTensors"/>): a
    /// fixture of many cases does not hold every case's tensors for the whole run.
    /// </summary>
    private static List<FixtureCase> ReadCases(SafetensorsFile golden, string goldenPath, string jsonPath, JsonElement casesJson)
    {
        var cases = new List<FixtureCase>();
        foreach (var c in casesJson.EnumerateArray())
        {
            string name = c.ValueKind == JsonValueKind.Object && c.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                ? n.GetString()! : throw new FixtureException($"{jsonPath}: every case needs a \"name\" string");
            GoldenTensors Part(string kind) => new(golden, golden.Tensors
                .Where(t => t.Name.StartsWith($"{name}.{kind}.", StringComparison.Ordinal))
                .ToDictionary(t => t.Name[(name.Length + kind.Length + 2)..], t => t.Name));
            var inputs = Part("input");
            var outputs = Part("output");
            if (inputs.Count == 0) throw new FixtureException($"{goldenPath}: no {name}.input.* tensors for case {name}");
            if (outputs.Count == 0) throw new FixtureException($"{goldenPath}: no {name}.output.* tensors for case {name}");
            cases.Add(new FixtureCase(name, c.Clone(), inputs, outputs, Part("trace")));
        }
        return cases;
    }

    internal static HostTensor ReadTensor(SafetensorsFile file, TensorInfo t)
    {
        if (t.DType == DataType.Int64)
            return new HostTensor(t.Shape, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(file.GetBytes(t.Name)).ToArray());
        if (t.DType is DataType.Int32 or DataType.Int16 or DataType.Int8 or DataType.UInt8)
            return new HostTensor(t.Shape, file.ReadAsFloat32(t.Name).Select(v => (long)v).ToArray());
        return new HostTensor(t.Shape, file.ReadAsFloat32(t.Name));
    }

    public void Dispose()
    {
        _golden.Dispose();
        Checkpoint.Dispose();
        _doc.Dispose();
    }
}

/// <summary>
/// One case's golden tensors of one kind (inputs, outputs or traces) by short name, read from golden.safetensors each time
/// one is asked for and not kept: validate holds a case's tensors only while that case runs. Valid while the fixture is.
/// </summary>
internal sealed class GoldenTensors(SafetensorsFile file, Dictionary<string, string> names) : IReadOnlyDictionary<string, HostTensor>
{
    public HostTensor this[string key] => Read(names[key]);

    public IEnumerable<string> Keys => names.Keys;

    public IEnumerable<HostTensor> Values => names.Values.Select(Read);

    public int Count => names.Count;

    public bool ContainsKey(string key) => names.ContainsKey(key);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out HostTensor value)
    {
        value = names.TryGetValue(key, out var name) ? Read(name) : null;
        return value is not null;
    }

    public IEnumerator<KeyValuePair<string, HostTensor>> GetEnumerator() =>
        names.Select(kv => KeyValuePair.Create(kv.Key, Read(kv.Value))).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private HostTensor Read(string name) => GoldenFixture.ReadTensor(file, file.Get(name));
}
