using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Exploration;

/// <summary>
/// Images drawn in steps, as plain numbers for the browser to play (it draws; the server only sends these):
/// <see cref="Steps"/> frames of Rows x Cols images of Height x Width bytes, frame-major then image-major; per frame
/// and image, 4 numbers (left, top, right, bottom, image pixels) of where the step wrote and, for reconstructions,
/// where it read <see cref="Inputs"/>, the images being reconstructed. Null boxes: a model that does not attend.
/// </summary>
public sealed record Animation(int Steps, int Rows, int Cols, int Height, int Width, byte[] Frames, float[]? Writes, float[]? Reads, byte[]? Inputs)
{
    public int Count => Rows * Cols;
    int FrameBytes => Count * Height * Width;

    /// <summary>The last frame: the images themselves.</summary>
    public ImageGrid Final => new(Rows, Cols, Height, Width, Frames[^FrameBytes..]);

    /// <summary>
    /// A still of the animation: the final images, then one more row, the first image at Cols evenly spaced steps
    /// ending with the last (a drawing of fewer steps leaves the rest of that row black).
    /// </summary>
    public ImageGrid WithStrip()
    {
        int size = Height * Width;
        var pixels = new byte[FrameBytes + Cols * size];
        Frames.AsSpan(Frames.Length - FrameBytes).CopyTo(pixels);
        int shown = Math.Min(Cols, Steps);
        for (int i = 0; i < shown; i++)
        {
            int step = (int)Math.Ceiling((i + 1) * (double)Steps / shown) - 1;
            Frames.AsSpan(step * FrameBytes, size).CopyTo(pixels.AsSpan(FrameBytes + i * size));
        }
        return new ImageGrid(Rows + 1, Cols, Height, Width, pixels);
    }

    /// <summary>A model's steps as bytes (rounded as <see cref="Trainer.ToGrid"/> rounds, so the last frame is the grid's pixels).</summary>
    public static Animation Of(DrawingSteps steps, int rows, int cols, Tensor? inputs = null)
    {
        using var scope = NewDisposeScope();
        int t = (int)steps.Canvases.shape[0];
        var frames = Trainer.ToGrid(steps.Canvases.reshape(-1, 784), t * rows, cols).Pixels;   // DRAW: 28×28 grey only
        return new Animation(t, rows, cols, 28, 28, frames, Boxes(steps.Writes), Boxes(steps.Reads),
            inputs is null ? null : Trainer.ToGrid(inputs, rows, cols).Pixels);
    }

    // Hundredths of a pixel are finer than any screen shows, and keep the JSON short.
    static float[]? Boxes(Tensor? boxes) =>
        boxes?.mul(Scalars.Of(100)).round_().div_(Scalars.Of(100)).contiguous().data<float>().ToArray();
}
