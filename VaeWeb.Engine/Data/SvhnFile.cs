namespace VaeWeb.Engine.Data;

/// <summary>
/// One of SVHN's cropped-digit files (Netzer et al. 2011, "format 2"): a MAT-file with X, 32×32×3×N uint8 in MATLAB's
/// column-major order, and y, N×1 labels 1–10 where 10 means the digit 0 (stored as double, or whatever numeric class).
/// </summary>
public static class SvhnFile
{
    public const int Side = 32, Channels = 3, PixelsPerImage = Side * Side * Channels;

    /// <summary>Images as bytes, image-major and channel-planar (R plane, G, B; each row-major), and labels 0–9.</summary>
    public sealed record Images(int Count, byte[]? Pixels, byte[] Labels);

    /// <summary>
    /// Reads and checks X and y. With <paramref name="keepPixels"/> false the pixels are checked and dropped (verifying
    /// a 182 MB file then costs no memory); <paramref name="keepFirst"/> &gt; 0 keeps only the first images' pixels
    /// (examples). <paramref name="progress"/> gets the fraction of the file read so far.
    /// </summary>
    public static Images Read(string path, bool keepPixels = true, Action<double>? progress = null, int keepFirst = 0)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path, keepPixels, progress, keepFirst);
    }

    public static Images Read(Stream file, string path, bool keepPixels = true, Action<double>? progress = null, int keepFirst = 0)
    {
        byte[]? pixels = null, labels = null;
        long count = -1;
        double reported = 0;
        void Report()
        {
            if (progress is null || !file.CanSeek || file.Length == 0) return;
            double done = (double)file.Position / file.Length;
            if (done - reported >= 0.01) progress(reported = done);
        }

        MatFile.Read(file, path, (array, data) =>
        {
            if (array.Name == "X") (pixels, count) = ReadPixels(path, array, data, keepPixels, keepFirst, Report);
            else if (array.Name == "y") labels = ReadLabels(path, array, data);
        });

        if (count < 0 || labels is null)
            throw new MatFileException(path, MatProblem.WrongShape,
                $"it has no {(count < 0 ? "X (the images)" : "y (the labels)")}; an SVHN file holds X (32×32×3×N uint8) and y (N×1). Use the official file.");
        if (labels.Length != count)
            throw new MatFileException(path, MatProblem.WrongShape, $"it has {count:N0} images but {labels.Length:N0} labels. Use the official file.");
        progress?.Invoke(1);
        return new Images((int)count, pixels, labels);
    }

    static (byte[]? Pixels, long Count) ReadPixels(string path, MatFile.ArrayInfo array, Stream data, bool keep, int keepFirst, Action report)
    {
        var dims = array.Dimensions;
        if (array.Class != MatFile.ArrayClass.UInt8 || array.Storage != MatFile.DataType.UInt8 || array.Complex
            || dims.Length != 4 || dims[0] != Side || dims[1] != Side || dims[2] != Channels)
            throw new MatFileException(path, MatProblem.WrongShape,
                $"X is {array.Shape} {array.Class}{(array.Complex ? " complex" : "")}; SVHN's X is 32×32×3×N uint8. Use the official file.");
        long count = dims[3];
        if (array.DataBytes != count * PixelsPerImage)
            throw new MatFileException(path, MatProblem.WrongShape, $"X claims {count:N0} images but holds {array.DataBytes:N0} bytes. Use the official file.");
        if (keep && count * PixelsPerImage > Array.MaxLength)
            throw new MatFileException(path, MatProblem.WrongShape, $"X holds {count:N0} images, too many to load at once.");
        long kept = keepFirst > 0 ? Math.Min(keepFirst, count) : count;
        var pixels = keep ? new byte[kept * PixelsPerImage] : null;
        var image = new byte[PixelsPerImage];
        for (long n = 0; n < count; n++)
        {
            data.ReadExactly(image);
            report();
            if (pixels is null || n >= kept) continue;
            // MATLAB is column-major: byte (row r, column c, channel ch) sits at r + 32·c + 1024·ch. Transpose each plane.
            var target = pixels.AsSpan((int)(n * PixelsPerImage), PixelsPerImage);
            for (int ch = 0; ch < Channels; ch++)
                for (int c = 0; c < Side; c++)
                    for (int r = 0; r < Side; r++)
                        target[ch * Side * Side + r * Side + c] = image[ch * Side * Side + c * Side + r];
        }
        return (pixels, count);
    }

    static byte[] ReadLabels(string path, MatFile.ArrayInfo array, Stream data)
    {
        var dims = array.Dimensions;
        if (dims.Length != 2 || Math.Min(dims[0], dims[1]) != 1 || MatFile.SizeOf(array.Storage) == 0 || array.Complex)
            throw new MatFileException(path, MatProblem.WrongShape, $"y is {array.Shape} {array.Class}; SVHN's y is N×1 numbers. Use the official file.");
        if (array.DataBytes != array.Count * MatFile.SizeOf(array.Storage))
            throw new MatFileException(path, MatProblem.WrongShape, $"y claims {array.Count:N0} labels but holds {array.DataBytes:N0} bytes of {array.Storage}. Use the official file.");
        var values = MatFile.ReadValues(data, array.Storage, array.Count, array.LittleEndian);
        var labels = new byte[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var v = values[i];
            if (v is < 1 or > 10 || v != Math.Floor(v))
                throw new MatFileException(path, MatProblem.BadLabels,
                    $"label {i + 1:N0} is {v}; SVHN's labels are 1–10 (10 for the digit 0). Use the official file.");
            labels[i] = (byte)(v == 10 ? 0 : v);
        }
        return labels;
    }
}
