using VaeWeb.Engine.Native;

namespace VaeWeb.Engine.Data;

/// <summary>
/// Datasets loaded once and kept: a worker that trains run after run should not read and convert 55 MB before each.
/// The cache owns the sets; callers take views (<see cref="ImageSet.Take"/>) and dispose those. Thread-safe: the
/// server holds one for its embedded worker and for exploring.
/// </summary>
public sealed class DatasetCache(string? dataDirectory = null) : IDisposable
{
    readonly Dictionary<string, (ImageSet Train, ImageSet Test)> _loaded = [];

    /// <summary>The data folder the sets come from (and the sample-quality classifiers live in).</summary>
    public string Directory { get; } = dataDirectory ?? Datasets.DefaultDirectory();

    public (ImageSet Train, ImageSet Test) Get(string name)
    {
        lock (_loaded)
        {
            if (!_loaded.TryGetValue(name, out var sets))
            {
                TorchRuntime.EnsureInitialized();                            // the sets are tensors
                _loaded[name] = sets = Datasets.Load(name, Directory);
            }
            return sets;
        }
    }

    public void Dispose()
    {
        lock (_loaded)
            foreach (var (train, test) in _loaded.Values) { train.Dispose(); test.Dispose(); }
    }
}
