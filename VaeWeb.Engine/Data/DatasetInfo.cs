namespace VaeWeb.Engine.Data;

/// <summary>A dataset: its name (for configs and the CLI), title, image shape, split sizes and source.</summary>
public sealed record DatasetInfo(string Name, string Title, int Channels, int Height, int Width, int TrainCount, int TestCount, string Source)
{
    /// <summary>32×32×3 colour sets need the colour models (<see cref="Models.ModelInfo.Colour"/>): grey ones take 28×28.</summary>
    public bool IsColour => Channels == 3;

    public int PixelsPerImage => Channels * Height * Width;

    /// <summary>The shape of one image, which models built for this dataset take.</summary>
    public ImageShape Shape => new(Channels, Height, Width);
}

/// <summary>
/// The shape of one image: <paramref name="Channels"/> planes of <paramref name="Height"/>×<paramref name="Width"/>.
/// Models and grids hold images as rows [B, C·H·W] of intensities in [0, 1], channel-planar (all of R, then G, then B).
/// </summary>
public sealed record ImageShape(int Channels, int Height, int Width)
{
    /// <summary>MNIST's 28×28 grey images: every model's shape before the colour models, and still the default.</summary>
    public static readonly ImageShape Grey28 = new(1, 28, 28);

    /// <summary>C·H·W: the width of an image's row.</summary>
    public int Pixels => Channels * Height * Width;

    public bool IsColour => Channels == 3;

    /// <summary>Grey rows of <paramref name="pixels"/> values: MNIST's 28×28 for 784, else one row (an FC model's input of any width).</summary>
    public static ImageShape Grey(int pixels) => pixels == Grey28.Pixels ? Grey28 : new(1, 1, pixels);

    /// <summary>The shape of a dataset whose images have <paramref name="pixels"/> values (784: 28×28 grey; 3072: 32×32×3).</summary>
    public static ImageShape Of(long pixels) =>
        Datasets.All.Select(d => d.Shape).FirstOrDefault(s => s.Pixels == pixels)
        ?? throw new ArgumentException($"No dataset has images of {pixels} values.");

    public override string ToString() => IsColour ? $"{Height}×{Width}×{Channels}" : $"{Height}×{Width}";
}
