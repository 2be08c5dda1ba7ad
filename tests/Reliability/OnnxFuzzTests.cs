using CsCheck;
using FluentAssertions;
using Microsoft.ML.OnnxRuntime;
using ModelForge.Converters.Onnx;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Onnx;
using Xunit;
using Xunit.Abstractions;

namespace ModelForge.Tests.Reliability;

/// <summary>
/// Truncated and garbled model.onnx files: OrtRunner refuses them with one ArgumentException naming the file (the CLI's
/// exit 2) and OnnxModelEditor.Read with an OnnxFormatException; a mutant that still loads must run or fail in ONNX
/// Runtime itself, never crash the process.
/// </summary>
[Trait("Category", "Slow")]
public sealed class OnnxFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Truncated_and_garbled_models_give_one_clear_error()
    {
        string tiny = Repo.Golden("deepencoder-tiny");
        using var tmp = new TempDir();
        var r = Support.Cli.Run("export", "--arch", "deepencoder", "--checkpoint", Path.Combine(tiny, "model.safetensors"),
            "--config", Path.Combine(tiny, "fixture.json"), "--image-size", "128", "--external-data", "never", "--out", tmp.File("a"));
        r.ExitCode.Should().Be(0, r.ToString());
        byte[] model = File.ReadAllBytes(tmp.File("a/model.onnx"));
        var input = new HostTensor([1, 3, 128, 128], new float[3 * 128 * 128]);
        var gen = Gen.OneOf(
            Gen.Int[0, model.Length - 1].Select(cut => ($"truncated at {cut}", model[..cut])),
            MalformedSafetensors.ByteMutation(model.Length).Select(m => ($"mutation {m}", MalformedSafetensors.Mutate(model, m))),
            Gen.Byte.Array[0, 256].Select(b => ("random bytes", b)));
        var pcg = new PCG(20, 20251124);
        int cases = 0, refusedByOrt = 0, refusedByParser = 0, loaded = 0, ran = 0;
        for (int i = 0; i < 300; i++)
        {
            var (kind, bytes) = gen.Generate(pcg, null!, out _);
            string path = tmp.File($"m{i % 3}.onnx");
            File.WriteAllBytes(path, bytes);
            cases++;
            string where = $"case {i}: {kind}";
            try
            {
                OnnxModelEditor.Read(path);
            }
            catch (OnnxFormatException e)
            {
                e.Message.Should().Contain(path, where);
                refusedByParser++;
            }
            OrtRunner runner;
            try
            {
                runner = new OrtRunner(path, new OrtRunnerOptions(IntraOpThreads: 1));
            }
            catch (ArgumentException e)
            {
                e.Message.Should().StartWith(path + ": ", where).And.NotContainAny(["\n", "\r"]);
                refusedByOrt++;
                continue;
            }
            using (runner)
            {
                loaded++;
                try
                {
                    runner.Run(new Dictionary<string, HostTensor> { ["pixel_values"] = input });
                    ran++;
                }
                catch (Exception e) when (e is ArgumentException or OnnxRuntimeException or NotSupportedException)
                {
                    // A mutant that loads but whose inputs, outputs or kernels no longer fit: refused, not a crash.
                }
            }
        }
        Counts.WriteLine(output, $"onnx: {cases} cases, {refusedByOrt} refused by OrtRunner (ArgumentException), {refusedByParser} by " +
            $"OnnxModelEditor.Read (OnnxFormatException), {loaded} loaded, {ran} ran");
        refusedByOrt.Should().BeGreaterThan(100);
    }
}
