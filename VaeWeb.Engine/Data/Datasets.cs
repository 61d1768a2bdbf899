namespace VaeWeb.Engine.Data;

/// <summary>The datasets VaeWeb knows, where their files live, and how to load them as tensors.</summary>
public static partial class Datasets
{
    public static readonly IReadOnlyList<string> Names = ["mnist", "fashion-mnist"];
}
