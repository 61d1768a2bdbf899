using System.Buffers.Binary;
using System.IO.Compression;

namespace VaeWeb.Engine.Data;

/// <summary>
/// A streaming reader for MATLAB 5 MAT-files (also what MATLAB 7 writes without -v7.3): a 128-byte header, then
/// tagged data elements, each a matrix or a zlib-compressed matrix. No package served here reads them, and SVHN's
/// 182 MB training file must not be held in several copies, so the reader hands each numeric array's data to the
/// caller as a stream and keeps nothing itself. Layout: "MAT-File Format", The MathWorks, 2019, chapter 1.
/// </summary>
public static class MatFile
{
    public const int HeaderLength = 128;

    // Data types of tagged elements (table 1-1) and the array classes of miMATRIX (table 1-3).
    public enum DataType { Int8 = 1, UInt8 = 2, Int16 = 3, UInt16 = 4, Int32 = 5, UInt32 = 6, Single = 7, Double = 9, Int64 = 12, UInt64 = 13, Matrix = 14, Compressed = 15, Utf8 = 16, Utf16 = 17, Utf32 = 18 }
    public enum ArrayClass { Cell = 1, Struct = 2, Object = 3, Char = 4, Sparse = 5, Double = 6, Single = 7, Int8 = 8, UInt8 = 9, Int16 = 10, UInt16 = 11, Int32 = 12, UInt32 = 13, Int64 = 14, UInt64 = 15 }

    /// <summary>A numeric array's header; its real part (<see cref="DataBytes"/> bytes of <see cref="Storage"/>) follows in the stream.</summary>
    public sealed record ArrayInfo(string Name, ArrayClass Class, int[] Dimensions, DataType Storage, long DataBytes, bool Complex, bool LittleEndian)
    {
        public long Count => Dimensions.Aggregate(1L, (a, d) => a * d);
        public string Shape => string.Join("×", Dimensions);
    }

    /// <summary>
    /// Reads the header and every top-level variable in order. For each numeric array, <paramref name="visit"/> gets its
    /// header and a stream of exactly its real part's bytes (it may read all, some or none; the rest is skipped).
    /// Other classes (cells, structs, text) are skipped. Errors are <see cref="MatFileException"/>s naming the file.
    /// </summary>
    public static void Read(Stream file, string path, Action<ArrayInfo, Stream> visit)
    {
        try
        {
            bool little = ReadHeader(file, path);
            var reader = new ElementReader(little);
            while (reader.TryReadTag(file, atTopLevel: true) is { } tag)
            {
                if (tag.Type == DataType.Compressed)
                {
                    // Compressed elements are not padded; the inflated bytes hold one ordinary element, a matrix.
                    using var body = new BoundedStream(file, tag.Size);
                    using (var inflated = new ZLibStream(body, CompressionMode.Decompress, leaveOpen: true))
                    {
                        var inner = reader.TryReadTag(inflated, atTopLevel: false) ?? throw new EndOfStreamException();
                        if (inner.Type == DataType.Matrix) reader.ReadMatrix(new BoundedStream(inflated, inner.Size), visit);
                    }
                    body.SkipRest();
                }
                else
                {
                    using var body = tag.Small is { } small ? new MemoryStream(small) : (Stream)new BoundedStream(file, tag.Size);
                    if (tag.Type == DataType.Matrix) reader.ReadMatrix(body, visit);
                    if (body is BoundedStream bounded) bounded.SkipRest();
                    if (tag.Small is null) Skip(file, Padding(tag.Size));
                }
            }
        }
        catch (EndOfStreamException)
        {
            throw new MatFileException(path, MatProblem.Truncated,
                $"the file ends in the middle of its data (at byte {Position(file)}): it is truncated. Download it again.");
        }
        catch (InvalidDataException e)
        {
            throw new MatFileException(path, MatProblem.Corrupt, $"it is corrupt: {e.Message.TrimEnd('.')}. Download it again.");
        }
    }

    /// <summary>Checks the 128-byte header and returns whether the data are little-endian ("IM") or big-endian ("MI").</summary>
    static bool ReadHeader(Stream file, string path)
    {
        var header = new byte[HeaderLength];
        int read = file.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
        var text = System.Text.Encoding.ASCII.GetString(header, 0, Math.Min(read, 116));
        if (!text.StartsWith("MATLAB "))
            throw new MatFileException(path, MatProblem.NotMatlab5,
                "it is not a MATLAB 5 MAT-file (its header does not start with \"MATLAB 5.0 MAT-file\"). Use the official file.");
        if (read < HeaderLength) throw new EndOfStreamException();
        bool little = (header[126], header[127]) switch
        {
            ((byte)'I', (byte)'M') => true,
            ((byte)'M', (byte)'I') => false,
            _ => throw new MatFileException(path, MatProblem.NotMatlab5,
                $"its header has no endian indicator ('IM' or 'MI'); it is not a MATLAB 5 MAT-file. Use the official file."),
        };
        int version = little ? BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(124)) : BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(124));
        if (version != 0x0100)
            throw new MatFileException(path, MatProblem.NotMatlab5, version == 0x0200
                ? "it is a MATLAB 7.3 (HDF5) file, not a MATLAB 5 MAT-file. Use the official file, or save it with -v7."
                : $"its header has version 0x{version:X4}, not 0x0100 (MATLAB 5). Use the official file.");
        return little;
    }

    /// <summary>Reads <paramref name="count"/> values of <paramref name="type"/> as doubles (e.g. labels, whatever class they were saved as).</summary>
    public static double[] ReadValues(Stream data, DataType type, long count, bool little)
    {
        int size = SizeOf(type);
        if (count > Array.MaxLength / Math.Max(size, 8)) throw new InvalidDataException($"{count} values are too many to read at once.");
        var bytes = new byte[count * size];
        data.ReadExactly(bytes);
        var values = new double[count];
        for (long i = 0; i < count; i++)
        {
            var s = bytes.AsSpan((int)(i * size), size);
            values[i] = type switch
            {
                DataType.Int8 => (sbyte)s[0],
                DataType.UInt8 => s[0],
                DataType.Int16 => little ? BinaryPrimitives.ReadInt16LittleEndian(s) : BinaryPrimitives.ReadInt16BigEndian(s),
                DataType.UInt16 => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s),
                DataType.Int32 => little ? BinaryPrimitives.ReadInt32LittleEndian(s) : BinaryPrimitives.ReadInt32BigEndian(s),
                DataType.UInt32 => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s),
                DataType.Int64 => little ? BinaryPrimitives.ReadInt64LittleEndian(s) : BinaryPrimitives.ReadInt64BigEndian(s),
                DataType.UInt64 => little ? BinaryPrimitives.ReadUInt64LittleEndian(s) : BinaryPrimitives.ReadUInt64BigEndian(s),
                DataType.Single => little ? BinaryPrimitives.ReadSingleLittleEndian(s) : BinaryPrimitives.ReadSingleBigEndian(s),
                DataType.Double => little ? BinaryPrimitives.ReadDoubleLittleEndian(s) : BinaryPrimitives.ReadDoubleBigEndian(s),
                _ => throw new InvalidDataException($"{type} is not a numeric type."),
            };
        }
        return values;
    }

    public static int SizeOf(DataType type) => type switch
    {
        DataType.Int8 or DataType.UInt8 => 1,
        DataType.Int16 or DataType.UInt16 => 2,
        DataType.Int32 or DataType.UInt32 or DataType.Single => 4,
        DataType.Int64 or DataType.UInt64 or DataType.Double => 8,
        _ => 0,
    };

    static bool IsNumeric(ArrayClass c) => c is >= ArrayClass.Double and <= ArrayClass.UInt64;

    internal static int Padding(long size) => (int)((8 - size % 8) % 8);

    static void Skip(Stream stream, long count)
    {
        if (count <= 0) return;
        Span<byte> buffer = stackalloc byte[8192];
        while (count > 0)
        {
            int read = stream.Read(buffer[..(int)Math.Min(buffer.Length, count)]);
            if (read == 0) throw new EndOfStreamException();
            count -= read;
        }
    }

    static string Position(Stream file) { try { return file.Position.ToString("N0"); } catch (NotSupportedException) { return "?"; } }

    /// <summary>A tag: type and size, and for the small-element form its up to 4 bytes of data.</summary>
    readonly record struct Tag(DataType Type, long Size, byte[]? Small);

    sealed class ElementReader(bool little)
    {
        readonly byte[] _tag = new byte[8];

        uint UInt32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);

        /// <summary>The next tag, or null at a clean end of the file (top level only: anywhere else the end is a truncation).</summary>
        public Tag? TryReadTag(Stream stream, bool atTopLevel)
        {
            int read = stream.ReadAtLeast(_tag, 8, throwOnEndOfStream: false);
            if (read == 0 && atTopLevel) return null;
            if (read < 8) throw new EndOfStreamException();
            uint first = UInt32(_tag);
            // Small data element: the upper 16 bits of the first word hold the byte count, the data sit in the next 4 bytes.
            if (first >> 16 != 0) return new Tag((DataType)(first & 0xFFFF), first >> 16, _tag.AsSpan(4, (int)Math.Min(4, first >> 16)).ToArray());
            return new Tag((DataType)first, UInt32(_tag.AsSpan(4)), null);
        }

        byte[] ReadSubelement(Stream stream, DataType expected, string what)
        {
            var tag = TryReadTag(stream, atTopLevel: false)!.Value;
            if (tag.Type != expected && !(expected == DataType.Int8 && tag.Type == DataType.UInt8))
                throw new InvalidDataException($"a matrix's {what} is stored as {tag.Type}, not {expected}");
            if (tag.Small is { } small) return small;
            if (tag.Size > 1 << 20) throw new InvalidDataException($"a matrix's {what} claims {tag.Size} bytes");
            var bytes = new byte[tag.Size];
            stream.ReadExactly(bytes);
            Skip(stream, Padding(tag.Size));
            return bytes;
        }

        /// <summary>Array flags, dimensions, name, then for numeric arrays the real part, handed to <paramref name="visit"/>.</summary>
        public void ReadMatrix(Stream matrix, Action<ArrayInfo, Stream> visit)
        {
            if (matrix.Length == 0) return;                                     // an empty matrix element (allowed)
            var flags = ReadSubelement(matrix, DataType.UInt32, "array flags");
            if (flags.Length < 4) throw new InvalidDataException("a matrix's array flags are too short");
            uint word = UInt32(flags);
            var cls = (ArrayClass)(word & 0xFF);
            bool complex = (word & 0x0800) != 0;
            var dimBytes = ReadSubelement(matrix, DataType.Int32, "dimensions");
            var dims = Enumerable.Range(0, dimBytes.Length / 4).Select(i => (int)UInt32(dimBytes.AsSpan(4 * i))).ToArray();
            var name = System.Text.Encoding.ASCII.GetString(ReadSubelement(matrix, DataType.Int8, "name"));
            if (!IsNumeric(cls)) return;                                        // the caller's bounded stream skips the rest
            var real = TryReadTag(matrix, atTopLevel: false)!.Value;
            using var data = real.Small is { } small ? new MemoryStream(small) : (Stream)new BoundedStream(matrix, real.Size);
            visit(new ArrayInfo(name, cls, dims, real.Type, real.Size, complex, little), data);
        }
    }

    /// <summary>A window of exactly <c>length</c> bytes of another stream: reading past it gives 0, the source ending early throws.</summary>
    sealed class BoundedStream(Stream inner, long length) : Stream
    {
        long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_read >= length || buffer.Length == 0) return 0;
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, length - _read)]);
            if (read == 0) throw new EndOfStreamException();
            _read += read;
            return read;
        }

        public void SkipRest() => Skip(this, length - _read);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>What is wrong with a MAT-file.</summary>
public enum MatProblem { NotMatlab5, Truncated, Corrupt, WrongShape, BadLabels }

/// <summary>A MAT-file that cannot be used: the message names the file, says what is wrong and what to do.</summary>
public sealed class MatFileException(string path, MatProblem problem, string message) : IOException($"{Path.GetFileName(path)}: {message}")
{
    public string FilePath { get; } = path;
    public MatProblem Problem { get; } = problem;
}
