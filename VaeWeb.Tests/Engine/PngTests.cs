using System.Buffers.Binary;
using System.IO.Compression;
using VaeWeb.Engine.Imaging;
using VaeWeb.Engine.Training;

namespace VaeWeb.Tests.Engine;

public class PngTests
{
    [Fact]
    public void Grid_png_has_a_valid_header_and_its_pixels_decompress_back()
    {
        var pixels = Enumerable.Range(0, 2 * 3 * 4 * 5).Select(i => (byte)(i * 2)).ToArray();
        var grid = new ImageGrid(Rows: 2, Cols: 3, Height: 4, Width: 5, pixels);
        var png = Png.EncodeGrid(grid, gap: 0);

        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(15, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));    // 3 images of width 5
        Assert.Equal(8, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));     // 2 rows of height 4

        int idatLength = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        using var z = new ZLibStream(new MemoryStream(png, 41, idatLength), CompressionMode.Decompress);
        var scanlines = new MemoryStream();
        z.CopyTo(scanlines);
        var raw = scanlines.ToArray();
        Assert.Equal(8 * 16, raw.Length);
        // Top-left pixel of the second image (col 1) sits at x = 5 in the first scanline, after the filter byte.
        Assert.Equal(pixels[20], raw[1 + 5]);
    }
}
