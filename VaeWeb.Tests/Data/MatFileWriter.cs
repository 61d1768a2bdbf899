using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VaeWeb.Engine.Data;

namespace VaeWeb.Tests.Data;

/// <summary>
/// Writes small MATLAB 5 MAT-files the way MATLAB does (names of up to 4 bytes as small elements, each variable
/// zlib-compressed or not, either byte order), so the reader is tested on files the tests control, broken ones too.
/// </summary>
public sealed class MatFileWriter(bool littleEndian = true, bool compressed = true)
{
    readonly MemoryStream _body = new();

    /// <summary>A numeric array: <paramref name="data"/> already in <paramref name="storage"/>'s encoding and this file's byte order.</summary>
    public MatFileWriter Array(string name, MatFile.ArrayClass cls, int[] dims, MatFile.DataType storage, byte[] data)
    {
        var matrix = new MemoryStream();
        Element(matrix, MatFile.DataType.UInt32, [.. UInt32((uint)cls), .. UInt32(0)]);
        Element(matrix, MatFile.DataType.Int32, dims.SelectMany(d => UInt32((uint)d)).ToArray());
        Element(matrix, MatFile.DataType.Int8, Encoding.ASCII.GetBytes(name));
        Element(matrix, storage, data);
        var element = new MemoryStream();
        Tag(element, MatFile.DataType.Matrix, matrix.Length);
        element.Write(matrix.ToArray());
        if (!compressed) { _body.Write(element.ToArray()); return this; }
        var zipped = new MemoryStream();
        using (var zlib = new ZLibStream(zipped, CompressionLevel.Fastest, leaveOpen: true)) zlib.Write(element.ToArray());
        Tag(_body, MatFile.DataType.Compressed, zipped.Length);                 // compressed elements are not padded
        _body.Write(zipped.ToArray());
        return this;
    }

    /// <summary>SVHN's X from channel-planar row-major images: MATLAB's 32×32×3×N column-major uint8.</summary>
    public MatFileWriter SvhnImages(byte[] planar, int count, int[]? dims = null)
    {
        var columnMajor = new byte[planar.Length];
        for (int n = 0; n < count; n++)
            for (int ch = 0; ch < 3; ch++)
                for (int r = 0; r < 32; r++)
                    for (int c = 0; c < 32; c++)
                        columnMajor[n * 3072 + ch * 1024 + c * 32 + r] = planar[n * 3072 + ch * 1024 + r * 32 + c];
        return Array("X", MatFile.ArrayClass.UInt8, dims ?? [32, 32, 3, count], MatFile.DataType.UInt8, columnMajor);
    }

    /// <summary>y as doubles (what SVHN ships) or as uint8 (MATLAB may store a double array's small integers so).</summary>
    public MatFileWriter Labels(double[] labels, MatFile.DataType storage = MatFile.DataType.Double)
    {
        var data = storage switch
        {
            MatFile.DataType.Double => labels.SelectMany(v => { var b = new byte[8]; if (littleEndian) BinaryPrimitives.WriteDoubleLittleEndian(b, v); else BinaryPrimitives.WriteDoubleBigEndian(b, v); return b; }).ToArray(),
            MatFile.DataType.UInt8 => labels.Select(v => (byte)v).ToArray(),
            _ => throw new ArgumentException(storage.ToString()),
        };
        return Array("y", MatFile.ArrayClass.Double, [labels.Length, 1], storage, data);
    }

    public byte[] ToBytes()
    {
        var header = new byte[MatFile.HeaderLength];
        var text = Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Fri Nov 27 16:00:00 2026 (VaeWeb tests)".PadRight(116));
        text.CopyTo(header, 0);
        if (littleEndian) { BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(124), 0x0100); BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(126), 0x4D49); }
        else { BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(124), 0x0100); BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(126), 0x4D49); }
        return [.. header, .. _body.ToArray()];
    }

    public string Save(string path) { File.WriteAllBytes(path, ToBytes()); return path; }

    byte[] UInt32(uint v)
    {
        var b = new byte[4];
        if (littleEndian) BinaryPrimitives.WriteUInt32LittleEndian(b, v); else BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    void Tag(Stream s, MatFile.DataType type, long size) { s.Write(UInt32((uint)type)); s.Write(UInt32((uint)size)); }

    void Element(Stream s, MatFile.DataType type, byte[] data)
    {
        if (data.Length is > 0 and <= 4)
        {
            // The small data element: size in the upper 16 bits, type in the lower, the data in the tag's second word.
            s.Write(UInt32(((uint)data.Length << 16) | (uint)type));
            s.Write([.. data, .. new byte[4 - data.Length]]);
            return;
        }
        Tag(s, type, data.Length);
        s.Write(data);
        s.Write(new byte[(8 - data.Length % 8) % 8]);
    }

    /// <summary>A small SVHN-shaped file: <paramref name="count"/> random images, labels 1–10 cycling (10 = digit 0).</summary>
    public static (byte[] Planar, double[] Labels) SvhnLike(int count, int seed = 1)
    {
        var random = new Random(seed);
        var planar = new byte[count * 3072];
        random.NextBytes(planar);
        return (planar, Enumerable.Range(0, count).Select(i => (double)(i % 10 + 1)).ToArray());
    }
}
