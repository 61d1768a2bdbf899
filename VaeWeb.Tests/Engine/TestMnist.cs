using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;

namespace VaeWeb.Tests.Engine;

/// <summary>Real MNIST, loaded once for every engine test class that reads it (never disposed: it lives with the process).</summary>
static class TestMnist
{
    public static readonly Lazy<(ImageSet Train, ImageSet Test)> Loaded = new(() =>
    {
        TorchRuntime.EnsureInitialized();
        return Datasets.Load("mnist");
    });
}
