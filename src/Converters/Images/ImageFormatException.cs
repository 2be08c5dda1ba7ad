namespace ModelForge.Converters.Images;

/// <summary>
/// An image file that cannot be used: unreadable, truncated, corrupt, empty or too large. The message is one line,
/// "&lt;file&gt;: &lt;defect&gt;".
/// </summary>
public sealed class ImageFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="file"/> with the given defect.</summary>
    public ImageFormatException(string file, string defect, Exception? inner = null)
        : base($"{file}: {defect}", inner)
    {
        File = file;
        Defect = defect;
    }

    /// <summary>The file (or label) that was refused.</summary>
    public string File { get; }

    /// <summary>What is wrong with it.</summary>
    public string Defect { get; }
}
