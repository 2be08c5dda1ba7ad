// dotnet run --project tools/SynthDeepEncoder -- OUT [--single]
// Same CLI and output as synth_deepencoder_full.py: OUT/model.safetensors with --single, otherwise two shards,
// model.safetensors.index.json and page_1200x1800.png.
using ModelForge.Tools;

var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
if (positional.Length != 1)
{
    Console.Error.WriteLine("usage: SynthDeepEncoder OUT [--single]");
    return 2;
}
var single = args.Contains("--single");
if (single) SyntheticDeepEncoderCheckpoint.WriteSingle(positional[0]);
else SyntheticDeepEncoderCheckpoint.WriteSharded(positional[0]);
Console.WriteLine("vision params " +
    $"{SyntheticDeepEncoderCheckpoint.VisionParameterCount(SyntheticDeepEncoderCheckpoint.TensorShapes(single))}");
return 0;
