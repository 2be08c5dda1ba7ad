using System.Text.Json;
using ModelForge.Converters.Images;

namespace ModelForge.Tests.Converters.Images;

/// <summary>The golden preprocessing fixtures (fixtures/golden/preprocess), located from the test binaries.</summary>
internal static class PreprocessGolden
{
    public static string Folder { get; } = ModelForge.Tests.Support.Repo.Fixture("golden", "preprocess");

    public static string PathOf(string file) => Path.Combine(Folder, file);

    public static RgbImage Image(string file) => ImageLoader.Load(PathOf(file));

    public static JsonElement Json(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf(file)));
        return doc.RootElement.Clone();
    }

    /// <summary>Largest absolute difference over all pixels and channels; sizes must agree.</summary>
    public static int MaxDifference(RgbImage actual, RgbImage expected)
    {
        if (actual.Width != expected.Width || actual.Height != expected.Height)
        {
            throw new InvalidOperationException(
                $"size {actual.Width}x{actual.Height} differs from the golden {expected.Width}x{expected.Height}");
        }

        int max = 0;
        for (int i = 0; i < actual.Pixels.Length; i++)
        {
            max = Math.Max(max, Math.Abs(actual.Pixels[i] - expected.Pixels[i]));
        }

        return max;
    }

    /// <summary>Number of channel values that differ at all.</summary>
    public static int CountDifferent(RgbImage actual, RgbImage expected)
    {
        int n = 0;
        for (int i = 0; i < actual.Pixels.Length; i++)
        {
            n += actual.Pixels[i] != expected.Pixels[i] ? 1 : 0;
        }

        return n;
    }
}
