using static TorchSharp.torch;

namespace VaeWeb.Engine.Data;

/// <summary>Images as a float tensor [N, C·H·W] with values in [0, 1], and their labels as int64 [N].</summary>
public sealed class ImageSet(string name, Tensor images, Tensor labels, int channels, int height, int width) : IDisposable
{
    public string Name { get; } = name;
    public Tensor Images { get; } = images;
    public Tensor Labels { get; } = labels;
    public int Channels { get; } = channels;
    public int Height { get; } = height;
    public int Width { get; } = width;
    public long Count => Images.shape[0];

    /// <summary>Builds the tensors straight from IDX bytes: one copy into a uint8 tensor, one conversion.</summary>
    public static ImageSet FromIdx(string name, Idx.Images images, byte[] labels)
    {
        if (labels.Length != images.Count)
            throw new InvalidDataException($"{name}: {images.Count} images but {labels.Length} labels.");
        using var bytes = tensor(images.Pixels, new long[] { images.Count, images.Rows * images.Cols });
        using var labelBytes = tensor(labels);
        return new ImageSet(name, bytes.to(ScalarType.Float32).div_(VaeWeb.Engine.Native.Scalars.Of(255)), labelBytes.to(ScalarType.Int64), 1, images.Rows, images.Cols);
    }

    /// <summary>Colour images from bytes, image-major and channel-planar (C planes of H×W): [N, C·H·W] floats in [0, 1].</summary>
    public static ImageSet FromPlanarBytes(string name, byte[] pixels, byte[] labels, int channels, int height, int width)
    {
        long perImage = (long)channels * height * width;
        if (pixels.LongLength != labels.Length * perImage)
            throw new InvalidDataException($"{name}: {pixels.LongLength / perImage} images but {labels.Length} labels.");
        using var scope = NewDisposeScope();
        using var bytes = tensor(pixels, new long[] { labels.Length, perImage });
        var images = bytes.to(ScalarType.Float32).div_(VaeWeb.Engine.Native.Scalars.Of(255)).MoveToOuterDisposeScope();
        var labelTensor = tensor(labels).to(ScalarType.Int64).MoveToOuterDisposeScope();
        return new ImageSet(name, images, labelTensor, channels, height, width);
    }

    /// <summary>The first <paramref name="count"/> images (all when count ≤ 0), sharing this set's storage.</summary>
    public ImageSet Take(int count) => count <= 0 || count >= Count
        ? new ImageSet(Name, Images.alias(), Labels.alias(), Channels, Height, Width)
        : new ImageSet(Name, Images.narrow(0, 0, count), Labels.narrow(0, 0, count), Channels, Height, Width);

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
