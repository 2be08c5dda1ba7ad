using ModelForge.Graphs.Ir;
using System.Text.RegularExpressions;

namespace ModelForge.Graphs.Architectures;

/// <summary>
/// An adapter for checkpoints whose loader renames modules (transformers' "-hf" conversions): builder keys keep the
/// original model's names and each ordered (pattern, replacement) rule rewrites them, like the conversion scripts'
/// ORIGINAL_TO_CONVERTED_KEY_MAPPING tables. Rules run in order on the whole key; the first matching rule does not stop
/// the others (so "attn.proj" -> "attention.projection_layer" must precede "attn" -> "attention").
/// </summary>
public sealed class RenameAdapter(string family, IReadOnlyList<(string Pattern, string Replacement)> rules,
    IReadOnlyList<string> ownedPrefixes,
    IReadOnlyCollection<string>? unused = null) : CheckpointAdapter
{
    private readonly (Regex Pattern, string Replacement)[] _rules =
        rules.Select(r => (new Regex(r.Pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromSeconds(1)),
            r.Replacement)).ToArray();

    /// <inheritdoc/>
    public override string Family => family;

    /// <inheritdoc/>
    public override string ToCheckpointKey(string builderKey)
    {
        string key = builderKey;
        foreach (var (pattern, replacement) in _rules) key = pattern.Replace(key, replacement);
        return key;
    }

    /// <inheritdoc/>
    public override bool Owns(string checkpointKey) => ownedPrefixes.Any(p => checkpointKey.StartsWith(p, StringComparison.Ordinal));

    /// <inheritdoc/>
    public override IReadOnlyCollection<string> UnusedKeys => unused ?? [];
}
