using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Imaging;

/// <summary>Writes 8-bit grayscale PNG files (PNG spec, ISO/IEC 15948): signature, IHDR, one zlib IDAT, IEND.</summary>
public static class Png
{
    public static byte[] EncodeGray(int width, int height, ReadOnlySpan<byte> pixels)
    {
        if (pixels.Length != width * height) throw new ArgumentException($"Expected {width * height} pixels, got {pixels.Length}.");
        var scanlines = new byte[height * (width + 1)];                 // each row is prefixed by filter type 0 (None)
        for (int y = 0; y < height; y++) pixels.Slice(y * width, width).CopyTo(scanlines.AsSpan(y * (width + 1) + 1));
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(scanlines);

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                                                  // bit depth; colour type 0 = grayscale
        WriteChunk(png, "IHDR", header);
        WriteChunk(png, "IDAT", compressed.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>Lays the grid's images out as one picture with a 2-pixel black border between them.</summary>
    public static byte[] EncodeGrid(ImageGrid grid, int gap = 2)
    {
        int width = grid.Cols * (grid.Width + gap) + gap, height = grid.Rows * (grid.Height + gap) + gap;
        var canvas = new byte[width * height];
        int size = grid.Height * grid.Width;
        for (int i = 0; i < grid.Count; i++)
        {
            int top = gap + i / grid.Cols * (grid.Height + gap), left = gap + i % grid.Cols * (grid.Width + gap);
            for (int y = 0; y < grid.Height; y++)
                grid.Pixels.AsSpan(i * size + y * grid.Width, grid.Width).CopyTo(canvas.AsSpan((top + y) * width + left));
        }
        return EncodeGray(width, height, canvas);
    }

    static void WriteChunk(Stream png, string type, byte[] data)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buffer, data.Length);
        png.Write(buffer);
        var typed = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type, typed);
        data.CopyTo(typed, 4);
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, Crc32(typed));
        png.Write(buffer);
    }

    static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in bytes) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFF;
    }
}
