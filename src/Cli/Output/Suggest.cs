namespace ModelForge.Cli.Output;

/// <summary>
/// "Did you mean" for mistyped commands, options and names (architectures, modes): the closest candidate by edit distance.
/// </summary>
public static class Suggest
{
    /// <summary>The candidate nearest <paramref name="typed"/> (case-insensitive), if close enough to be a typo; else null.</summary>
    public static string? Closest(string typed, IEnumerable<string> candidates)
    {
        string t = typed.ToLowerInvariant();
        // Allow about one edit per three characters (at least 1, at most 3): "--jsn" -> "--json", "deepencodr" -> "deepencoder".
        int allowed = Math.Clamp(t.TrimStart('-').Length / 3, 1, 3);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var c in candidates.Distinct())
        {
            int d = Distance(t, c.ToLowerInvariant());
            if (d < bestDistance && d <= allowed && d < c.Length) (best, bestDistance) = (c, d);
        }
        return best;
    }

    /// <summary>" (did you mean X?)" or "".</summary>
    public static string Hint(string typed, IEnumerable<string> candidates) =>
        Closest(typed, candidates) is { } c ? $" (did you mean {c}?)" : "";

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions, which are the commonest typo).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
