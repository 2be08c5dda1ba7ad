using ModelForge.Graphs.Builder;
using ModelForge.Graphs.Ir;

namespace ModelForge.Graphs.Blocks;

/// <summary>
/// SAM/ViTDet window partition: the NORMALISED tokens are zero padded to a multiple of the window and cut into
/// windows; padded tokens take part in attention unmasked, exactly as the reference does.
/// Reference: DeepSeek-OCR deepencoder/sam_vary_sdpa.py window_partition / window_unpartition.
/// </summary>
public static class Windows
{
    /// <summary>x [B, H, W, C] -> ([B*nW, ws, ws, C], Hp, Wp).</summary>
    public static (Value Windows, long Hp, long Wp) Partition(this GraphBuilder b, Value x, int ws)
    {
        Dim batch = x.Shape[0];
        long h = x.Shape[1].Value, w = x.Shape[2].Value, c = x.Shape[3].Value;
        long padH = (ws - h % ws) % ws, padW = (ws - w % ws) % ws;
        if (padH > 0 || padW > 0) x = b.Pad(x, 0, 0, 0, 0, 0, padH, padW, 0);
        long hp = h + padH, wp = w + padW;
        var grid = b.Reshape(x, batch, hp / ws, ws, wp / ws, ws, c);         // [B, Hp/ws, ws, Wp/ws, ws, C]
        var perm = b.Transpose(grid, 0, 1, 3, 2, 4, 5);                       // [B, Hp/ws, Wp/ws, ws, ws, C]
        return (b.Reshape(perm, batch * (hp / ws * (wp / ws)), ws, ws, c), hp, wp);
    }

    /// <summary>windows [B*nW, ws, ws, C] -> [B, H, W, C] (padding cropped).</summary>
    public static Value Unpartition(this GraphBuilder b, Value windows, Dim batch, int ws, long hp, long wp, long h, long w)
    {
        long c = windows.Shape[3].Value;
        var grid = b.Reshape(windows, batch, hp / ws, wp / ws, ws, ws, c);   // [B, Hp/ws, Wp/ws, ws, ws, C]
        var perm = b.Transpose(grid, 0, 1, 3, 2, 4, 5);                       // [B, Hp/ws, ws, Wp/ws, ws, C]
        var x = b.Reshape(perm, batch, hp, wp, c);                            // [B, Hp, Wp, C]
        if (hp > h) x = b.Slice(x, 1, 0, h);
        if (wp > w) x = b.Slice(x, 2, 0, w);
        return x;
    }
}
