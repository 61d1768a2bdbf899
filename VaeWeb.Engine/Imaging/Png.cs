using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Imaging;

/// <summary>Writes 8-bit grayscale or RGB PNG files (PNG spec, ISO/IEC 15948): signature, IHDR, one zlib IDAT, IEND.</summary>
public static class Png
{
    public static byte[] EncodeGray(int width, int height, ReadOnlySpan<byte> pixels) => Encode(width, height, pixels, 1);

    /// <summary>Interleaved RGB bytes (R, G, B per pixel, row by row) → an 8-bit truecolour PNG (colour type 2).</summary>
    public static byte[] EncodeRgb(int width, int height, ReadOnlySpan<byte> pixels) => Encode(width, height, pixels, 3);

    static byte[] Encode(int width, int height, ReadOnlySpan<byte> pixels, int channels)
    {
        int row = width * channels;
        if (pixels.Length != row * height) throw new ArgumentException($"Expected {row * height} bytes, got {pixels.Length}.");
        var scanlines = new byte[height * (row + 1)];                   // each row is prefixed by filter type 0 (None)
        for (int y = 0; y < height; y++) pixels.Slice(y * row, row).CopyTo(scanlines.AsSpan(y * (row + 1) + 1));
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(scanlines);

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                                                  // bit depth
        header[9] = (byte)(channels == 3 ? 2 : 0);                      // colour type: 0 grayscale, 2 truecolour
        WriteChunk(png, "IHDR", header);
        WriteChunk(png, "IDAT", compressed.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>
    /// Lays the grid's images out as one picture with a 2-pixel black border between them: grayscale, or RGB for a
    /// colour grid (its channel planes interleaved per pixel, as PNG wants).
    /// </summary>
    public static byte[] EncodeGrid(ImageGrid grid, int gap = 2)
    {
        int width = grid.Cols * (grid.Width + gap) + gap, height = grid.Rows * (grid.Height + gap) + gap;
        int channels = grid.Channels, plane = grid.Height * grid.Width;
        var canvas = new byte[width * height * channels];
        for (int i = 0; i < grid.Count; i++)
        {
            int top = gap + i / grid.Cols * (grid.Height + gap), left = gap + i % grid.Cols * (grid.Width + gap);
            for (int y = 0; y < grid.Height; y++)
            {
                if (channels == 1)
                {
                    grid.Pixels.AsSpan(i * plane + y * grid.Width, grid.Width).CopyTo(canvas.AsSpan((top + y) * width + left));
                    continue;
                }
                for (int x = 0; x < grid.Width; x++)
                    for (int c = 0; c < 3; c++)
                        canvas[((top + y) * width + left + x) * 3 + c] = grid.Pixels[(i * 3 + c) * plane + y * grid.Width + x];
            }
        }
        return channels == 1 ? EncodeGray(width, height, canvas) : EncodeRgb(width, height, canvas);
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
