namespace VaeWeb.Engine.Data;

/// <summary>A dataset: its name (for configs and the CLI), title, image shape, split sizes and source.</summary>
public sealed record DatasetInfo(string Name, string Title, int Channels, int Height, int Width, int TrainCount, int TestCount, string Source)
{
    /// <summary>32×32×3 colour sets need colour models; the models so far take 28×28 grey images.</summary>
    public bool IsColour => Channels == 3;

    public int PixelsPerImage => Channels * Height * Width;
}
