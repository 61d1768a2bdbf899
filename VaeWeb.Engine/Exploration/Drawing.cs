using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Exploration;

/// <summary>
/// Turns a drawing into what an MNIST model expects, the way MNIST itself was made (LeCun et al.): the ink's bounding
/// box scaled to fit a 20x20 box, keeping its aspect ratio, then placed in a 28x28 image with its center of mass at
/// the center.
/// </summary>
public static class Drawing
{
    public const int MaxSide = 1024, Side = 28, Box = 20;

    /// <summary>A drawing that cannot be used, with what to do about it.</summary>
    public sealed class InvalidDrawingException(string message) : ArgumentException(message);

    /// <summary>
    /// <paramref name="pixels"/>: width·height ink intensities in [0, 1], row-major (1 = ink). Returns 784 intensities.
    /// </summary>
    public static float[] ToMnist(float[] pixels, int width, int height)
    {
        if (width is < 8 or > MaxSide || height is < 8 or > MaxSide)
            throw new InvalidDrawingException($"A drawing must be between 8x8 and {MaxSide}x{MaxSide} pixels (got {width}x{height}).");
        if (pixels.Length != width * height)
            throw new InvalidDrawingException($"A {width}x{height} drawing has {width * height} pixels, but {pixels.Length} values were sent.");
        for (int i = 0; i < pixels.Length; i++)
            if (!float.IsFinite(pixels[i]) || pixels[i] < 0 || pixels[i] > 1)
                throw new InvalidDrawingException($"Pixel {i} is {pixels[i]}; every pixel must be an intensity between 0 and 1.");

        int top = height, bottom = -1, left = width, right = -1;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                if (pixels[y * width + x] > 0.05f) { top = Math.Min(top, y); bottom = Math.Max(bottom, y); left = Math.Min(left, x); right = Math.Max(right, x); }
        if (bottom < 0) throw new InvalidDrawingException("The drawing is empty: draw a digit first.");

        using var scope = NewDisposeScope();
        int h = bottom - top + 1, w = right - left + 1;
        var ink = tensor(pixels, new long[] { height, width }).narrow(0, top, h).narrow(1, left, w);
        // Fit the longer side to 20 pixels; area averaging keeps thin strokes visible when shrinking.
        double scale = (double)Box / Math.Max(h, w);
        long newH = Math.Max(1, (long)Math.Round(h * scale)), newW = Math.Max(1, (long)Math.Round(w * scale));
        var small = nn.functional.interpolate(ink.view(1, 1, h, w), size: [newH, newW], mode: InterpolationMode.Area).view(newH, newW);
        small = small.div(small.max().clamp_min(Scalars.Of(1e-6))).clamp_(Scalars.Of(0), Scalars.One);        // thin strokes shrink to grey: restore full ink

        // Center of mass of the scaled ink, then place it so that lands on (14, 14).
        var ys = arange(Scalars.Of(0), Scalars.Of(newH), Scalars.One, ScalarType.Float32).view(-1, 1);
        var xs = arange(Scalars.Of(0), Scalars.Of(newW), Scalars.One, ScalarType.Float32).view(1, -1);
        var mass = small.sum().item<float>();
        float cy = (small * ys).sum().item<float>() / mass, cx = (small * xs).sum().item<float>() / mass;
        int offsetY = (int)Math.Round(Side / 2.0 - 0.5 - cy), offsetX = (int)Math.Round(Side / 2.0 - 0.5 - cx);
        offsetY = Math.Clamp(offsetY, 0, Side - (int)newH);
        offsetX = Math.Clamp(offsetX, 0, Side - (int)newW);
        var canvas = zeros(Side, Side);
        canvas.narrow(0, offsetY, newH).narrow(1, offsetX, newW).copy_(small);
        return canvas.contiguous().data<float>().ToArray();
    }
}
