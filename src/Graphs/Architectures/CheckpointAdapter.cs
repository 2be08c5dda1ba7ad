namespace ModelForge.Graphs.Architectures;

/// <summary>
/// Maps a family's builder weight keys to the names its released checkpoints use, and says which checkpoint
/// tensors belong to the vision encoder (a full VLM checkpoint also holds the language model, which is ignored).
/// Renames and prefix changes live here, not in builders. Tensors stored split (HF CLIP's q/k/v) are declared under their
/// own keys and combined by an export-time constant (Blocks.Layers.PackedLinear), so every builder key is one checkpoint tensor.
/// </summary>
public abstract class CheckpointAdapter
{
    /// <summary>Family name as used by --arch.</summary>
    public abstract string Family { get; }

    /// <summary>Checkpoint tensor name for a builder key.</summary>
    public abstract string ToCheckpointKey(string builderKey);

    /// <summary>Whether a checkpoint tensor is part of this family's vision encoder (and so must be used or known).</summary>
    public abstract bool Owns(string checkpointKey);

    /// <summary>
    /// Vision tensors the released checkpoint has that the graph does not read (e.g. CLIP's patch embedding in DeepEncoder).
    /// </summary>
    public virtual IReadOnlyCollection<string> UnusedKeys => [];
}

/// <summary>An adapter that adds a fixed prefix (e.g. "model.") to builder keys.</summary>
public class PrefixAdapter(string family, string prefix, IReadOnlyList<string> ownedPrefixes, IReadOnlyCollection<string>? unused = null)
    : CheckpointAdapter
{
    public override string Family => family;

    public override string ToCheckpointKey(string builderKey) => prefix + builderKey;

    public override bool Owns(string checkpointKey) => ownedPrefixes.Any(p => checkpointKey.StartsWith(p, StringComparison.Ordinal));

    public override IReadOnlyCollection<string> UnusedKeys => unused ?? [];
}
