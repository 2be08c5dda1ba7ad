using System.CommandLine;
using ModelForge.Cli.Output;
using ModelForge.Converters.Checkpoints;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Architectures;
using ModelForge.Graphs.Ir;
using Spectre.Console;

namespace ModelForge.Cli.Commands;

/// <summary>`modelforge inspect PATH`: a checkpoint's tensors and which architecture its keys match.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description =
            "Checkpoint file, folder or sharded index; an .onnx file; or a TensorRT bundle folder (hashes verified)" };
        var filter = new Option<string?>("--filter") { Description = "Only tensors whose name contains this text" };
        var limit = new Option<int>("--limit") { Description = "Show at most this many tensors (0 = all)", DefaultValueFactory = _ => 0 };
        var json = CommonOptions.Json();
        var cmd = new Command("inspect", "List a checkpoint's tensors (name, dtype, shape) and the architecture they match")
        {
            path, filter, limit, json,
        };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (Validators.Bundles.BundleReader.IsBundle(parse.GetValue(path)!))
                return BundleInspectCommand.Run(parse.GetValue(path)!);
            var io = new CliOutput(parse.GetValue(json));
            int max = parse.GetValue(limit);
            if (max < 0) throw new UsageException($"--limit {max}: must be 0 (all) or more");
            if (parse.GetValue(path)!.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                var m = OnnxModelReader.Read(parse.GetValue(path)!);
                if (io.Json) io.WriteJson(OnnxJson(m));
                else PrintOnnx(io.Human, m);
                return ExitCodes.Ok;
            }
            using var ckpt = Checkpoint.Open(parse.GetValue(path)!);
            string? f = parse.GetValue(filter);
            var tensors = ckpt.Tensors.Where(t => f is null || t.Name.Contains(f, StringComparison.Ordinal)).ToList();
            var shown = max > 0 ? tensors.Take(max).ToList() : tensors;
            long parameters = ckpt.Tensors.Sum(t => t.ElementCount);
            string? family = FamilySignatures.Identify(ckpt.Tensors.Select(t => t.Name));
            var arch = ArchitectureRegistry.All.FirstOrDefault(a => a.Name == family);
            int owned = arch is null ? 0 : ckpt.Tensors.Count(t => Adapter(arch, ckpt).Owns(t.Name));
            if (io.Json)
            {
                io.WriteJson(new
                {
                    path = ckpt.Path,
                    tensor_count = ckpt.Tensors.Count,
                    elements = parameters,
                    family,
                    builder = arch is not null,
                    vision_encoder_tensors = arch is null ? (int?)null : owned,
                    matched = tensors.Count,
                    shown = shown.Count,
                    tensors = shown.Select(t => new { name = t.Name, dtype = t.DType.ShortName(), shape = t.Shape, bytes = t.ByteLength }),
                });
                return ExitCodes.Ok;
            }
            var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
            foreach (var t in shown)
                table.AddRow(Markup.Escape(t.Name), t.DType.ShortName(), Markup.Escape("[" + string.Join(", ", t.Shape) + "]"),
                    t.ByteLength.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
            io.Human.Write(table);
            io.Human.MarkupLine($"{ckpt.Tensors.Count:N0} tensors, {parameters:N0} elements in {Markup.Escape(ckpt.Path)}");
            io.Human.MarkupLine(family is null ? "matches no known vision-encoder family"
                : arch is null ? $"looks like a [bold]{family}[/] checkpoint (no builder for it yet)"
                : $"looks like a [bold]{family}[/] checkpoint{Layout(arch!, ckpt)}: {owned:N0} vision-encoder tensors, " +
                    $"the rest is ignored by --arch {family}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The adapter of the layout the tensor names show (e.g. InternVL "-hf" names), else the family's original one.</summary>
    private static CheckpointAdapter Adapter(Architecture arch, Checkpoint ckpt) =>
        arch.DetectLayout(ckpt.Tensors.Select(t => t.Name).ToArray()) is { } layout
            ? arch.AdapterFor(System.Text.Json.JsonSerializer.SerializeToElement(new { checkpoint_layout = layout }))
            : arch.Adapter;

    private static string Layout(Architecture arch, Checkpoint ckpt) =>
        arch.DetectLayout(ckpt.Tensors.Select(t => t.Name).ToArray()) is { } l && l != "original" ? $" ({Markup.Escape(l)} key layout)"
            : "";

    private static object OnnxJson(OnnxModelSummary m) => new
    {
        path = m.Path,
        opset = m.Opset,
        ir_version = m.IrVersion,
        producer = m.Producer,
        inputs = m.Inputs.Select(Value),
        outputs = m.Outputs.Select(Value),
        op_counts = m.OpCounts,
        initializers = m.Initializers.Count,
        external_initializers = m.Initializers.Count(i => i.Location is not null),
        initializer_bytes = m.InitializerBytes,
        metadata = m.Metadata,
    };

    private static object Value(OnnxValueSummary v) => new { name = v.Name, dtype = v.DType?.ShortName(), dims = v.Dims };

    private static void PrintOnnx(IAnsiConsole console, OnnxModelSummary m)
    {
        console.MarkupLine($"{Markup.Escape(m.Path)}: opset {m.Opset}, IR version {m.IrVersion}, producer {Markup.Escape(m.Producer)}");
        foreach (var i in m.Inputs) console.MarkupLine($"  input  {Markup.Escape(i.ToString())}");
        foreach (var o in m.Outputs) console.MarkupLine($"  output {Markup.Escape(o.ToString())}");
        console.MarkupLine($"  nodes: {Markup.Escape(string.Join(", ", m.OpCounts.Select(kv => $"{kv.Key} {kv.Value}")))}");
        int external = m.Initializers.Count(i => i.Location is not null);
        console.MarkupLine($"  initializers: {m.Initializers.Count} ({external} external), {m.InitializerBytes:N0} bytes");
        foreach (var (k, v) in m.Metadata) console.MarkupLine($"  metadata {Markup.Escape(k)} = {Markup.Escape(v)}");
    }
}
