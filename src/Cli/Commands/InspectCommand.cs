using System.CommandLine;
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
        var path = new Argument<string>("path") { Description = "Checkpoint file, folder or sharded index; an .onnx file; or a TensorRT bundle folder (hashes verified)" };
        var filter = new Option<string?>("--filter") { Description = "Only tensors whose name contains this text" };
        var limit = new Option<int>("--limit") { Description = "Show at most this many tensors (0 = all)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("inspect", "List a checkpoint's tensors (name, dtype, shape) and the architecture they match") { path, filter, limit };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (Validators.Bundles.BundleReader.IsBundle(parse.GetValue(path)!))
                return BundleInspectCommand.Run(parse.GetValue(path)!);
            if (parse.GetValue(path)!.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                PrintOnnx(OnnxModelReader.Read(parse.GetValue(path)!));
                return ExitCodes.Ok;
            }
            using var ckpt = Checkpoint.Open(parse.GetValue(path)!);
            string? f = parse.GetValue(filter);
            var tensors = ckpt.Tensors.Where(t => f is null || t.Name.Contains(f, StringComparison.Ordinal)).ToList();
            int max = parse.GetValue(limit);
            var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
            foreach (var t in max > 0 ? tensors.Take(max) : tensors)
                table.AddRow(Markup.Escape(t.Name), t.DType.ShortName(), Markup.Escape("[" + string.Join(", ", t.Shape) + "]"), t.ByteLength.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            long parameters = ckpt.Tensors.Sum(t => t.ElementCount);
            AnsiConsole.MarkupLine($"{ckpt.Tensors.Count:N0} tensors, {parameters:N0} elements in {Markup.Escape(ckpt.Path)}");
            string? family = FamilySignatures.Identify(ckpt.Tensors.Select(t => t.Name));
            var arch = ArchitectureRegistry.All.FirstOrDefault(a => a.Name == family);
            AnsiConsole.MarkupLine(family is null ? "matches no known vision-encoder family"
                : arch is null ? $"looks like a [bold]{family}[/] checkpoint (no builder for it yet)"
                : $"looks like a [bold]{family}[/] checkpoint: {ckpt.Tensors.Count(t => arch.Adapter.Owns(t.Name)):N0} vision-encoder tensors, the rest is ignored by --arch {family}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static void PrintOnnx(OnnxModelSummary m)
    {
        AnsiConsole.MarkupLine($"{Markup.Escape(m.Path)}: opset {m.Opset}, IR version {m.IrVersion}, producer {Markup.Escape(m.Producer)}");
        foreach (var i in m.Inputs) AnsiConsole.MarkupLine($"  input  {Markup.Escape(i.ToString())}");
        foreach (var o in m.Outputs) AnsiConsole.MarkupLine($"  output {Markup.Escape(o.ToString())}");
        AnsiConsole.MarkupLine($"  nodes: {Markup.Escape(string.Join(", ", m.OpCounts.Select(kv => $"{kv.Key} {kv.Value}")))}");
        int external = m.Initializers.Count(i => i.Location is not null);
        AnsiConsole.MarkupLine($"  initializers: {m.Initializers.Count} ({external} external), {m.InitializerBytes:N0} bytes");
        foreach (var (k, v) in m.Metadata) AnsiConsole.MarkupLine($"  metadata {Markup.Escape(k)} = {Markup.Escape(v)}");
    }
}
