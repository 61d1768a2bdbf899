using System.Buffers.Binary;
using System.IO.Compression;

namespace VaeWeb.Engine.Data;

/// <summary>
/// The IDX format of LeCun's MNIST files: a big-endian magic (0x0000 0803 for uint8 images [N, rows, cols],
/// 0x0000 0801 for uint8 labels [N]), the dimension sizes as big-endian int32, then the bytes. Gzipped files are read
/// transparently.
/// </summary>
public static class Idx
{
    const int ImagesMagic = 0x0803, LabelsMagic = 0x0801;

    public sealed record Images(int Count, int Rows, int Cols, byte[] Pixels);

    public static Images ReadImages(string path)
    {
        var bytes = ReadAll(path);
        var dims = Header(bytes, path, ImagesMagic, 3);
        var pixels = Body(bytes, path, 16, (long)dims[0] * dims[1] * dims[2]);
        return new Images(dims[0], dims[1], dims[2], pixels);
    }

    public static byte[] ReadLabels(string path)
    {
        var bytes = ReadAll(path);
        var dims = Header(bytes, path, LabelsMagic, 1);
        return Body(bytes, path, 8, dims[0]);
    }

    public static void WriteImages(Stream stream, Images images)
    {
        WriteHeader(stream, ImagesMagic, [images.Count, images.Rows, images.Cols]);
        stream.Write(images.Pixels);
    }

    public static void WriteLabels(Stream stream, byte[] labels)
    {
        WriteHeader(stream, LabelsMagic, [labels.Length]);
        stream.Write(labels);
    }

    /// <summary>The file's bytes, gunzipped when they start with the gzip magic (whatever the file is called).</summary>
    public static byte[] ReadAll(string path)
    {
        var raw = File.ReadAllBytes(path);
        if (raw.Length < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
        using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        try { gzip.CopyTo(plain); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: corrupt gzip data ({e.Message}).", e); }
        return plain.ToArray();
    }

    static int[] Header(byte[] bytes, string path, int magic, int rank)
    {
        int headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength)
            throw new InvalidDataException($"{path}: {bytes.Length} bytes is too short for an IDX header; the file is truncated.");
        int found = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (found != magic)
            throw new InvalidDataException($"{path}: IDX magic 0x{found:X8}, expected 0x{magic:X8} ({(magic == ImagesMagic ? "uint8 images" : "uint8 labels")}).");
        return Enumerable.Range(0, rank).Select(i => BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * i))).ToArray();
    }

    static byte[] Body(byte[] bytes, string path, int offset, long expected)
    {
        if (bytes.Length - offset != expected)
            throw new InvalidDataException($"{path}: header promises {expected} data bytes, file has {bytes.Length - offset}; it is truncated or corrupt.");
        return bytes[offset..];
    }

    static void WriteHeader(Stream stream, int magic, int[] dims)
    {
        var header = new byte[4 + 4 * dims.Length];
        BinaryPrimitives.WriteInt32BigEndian(header, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dims[i]);
        stream.Write(header);
    }
}
