using System.Collections.Concurrent;
using System.Security.Cryptography;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;

namespace VaeWeb.Server.Catalog;

public enum DatasetState { Present, Missing, Invalid }

/// <summary>One file of a dataset with its checksum (SHA-256 for the IDX files, whose official hashes are SHA-256; MD5 for SVHN's).</summary>
public sealed record DatasetFile(string Name, string State, long Bytes, string Algorithm, string Checksum, string Message);

/// <summary>What the Data page shows of a dataset: its state and why, its files, counts, and a few test images.</summary>
public sealed record DatasetStatus(DatasetInfo Info, DatasetState State, string Message, IReadOnlyList<DatasetFile> Files,
    int Train, int Test, ImageGrid? Examples);

/// <summary>The SVHN files the app accepts: the official ones (tests substitute small files of their own).</summary>
public sealed class SvhnOptions
{
    public IReadOnlyList<SvhnFileSpec> Files { get; init; } = SvhnFiles.Official;
}

/// <summary>
/// The state of every dataset for the Data page and the new-run form. Computing it hashes and reads files, so it is
/// done once in the background and kept until something changes (an upload); checksums are also cached per file
/// (path, size, write time), so a refresh after an upload hashes only the new file.
/// </summary>
public sealed class DatasetCatalog(DataFolder data, SvhnOptions svhn, ILogger<DatasetCatalog> log)
{
    const int ExampleCount = 20, ExampleColumns = 10;
    readonly ConcurrentDictionary<(string Path, long Length, long Ticks), string> _checksums = new();
    readonly Lock _lock = new();
    Task<IReadOnlyList<DatasetStatus>>? _statuses;

    public string SvhnFolder => Path.Combine(data.Datasets, SvhnFiles.Folder);
    public IReadOnlyList<SvhnFileSpec> SvhnSpecs => svhn.Files;

    /// <summary>Raised after an upload changed the files: pages showing the catalog reload it.</summary>
    public event Action? Changed;

    public Task<IReadOnlyList<DatasetStatus>> GetAsync()
    {
        lock (_lock) return _statuses ??= Task.Run(Compute);
    }

    public void Invalidate()
    {
        lock (_lock) _statuses = null;
        Changed?.Invoke();
    }

    /// <summary>Cheap (no hashing): why SVHN cannot be chosen because files are missing, or null when they are all there.</summary>
    public string? SvhnMissing()
    {
        var missing = SvhnSpecs.Where(s => !s.Optional && !File.Exists(Path.Combine(SvhnFolder, s.Name))).ToList();
        return missing.Count == 0 ? null : SvhnFiles.MissingAdvice(SvhnFolder, missing);
    }

    IReadOnlyList<DatasetStatus> Compute()
    {
        var list = new List<DatasetStatus>();
        foreach (var info in Datasets.All)
        {
            try { list.Add(info.Name switch { "svhn" => Svhn(info), ColouredMnist.Name => Coloured(info), _ => Fetched(info) }); }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                log.LogWarning(e, "Checking dataset {Name} failed", info.Name);
                list.Add(new(info, DatasetState.Invalid, $"Its files cannot be read: {e.Message}", [], 0, 0, null));
            }
        }
        return list;
    }

    DatasetStatus Fetched(DatasetInfo info)
    {
        var folder = Path.Combine(data.Datasets, info.Name);
        if (!Datasets.IsFetched(info.Name, data.Datasets))
            return new(info, DatasetState.Missing,
                $"Not fetched yet: the engine fetches and verifies it on first use, or run `dotnet run --project VaeWeb.Engine -- data {info.Name}`.", [], 0, 0, null);
        var files = Datasets.Files.Select(f => Path.Combine(folder, f))
            .Select(p => new DatasetFile(Path.GetFileName(p), "present", new FileInfo(p).Length, "SHA-256", Checksum(p, SHA256.HashData), "")).ToList();
        var digits = VaeWeb.Engine.Data.Idx.ReadImages(Path.Combine(folder, "t10k-images-idx3-ubyte"));
        int train = VaeWeb.Engine.Data.Idx.ReadLabels(Path.Combine(folder, "train-labels-idx1-ubyte")).Length;
        var examples = new ImageGrid(ExampleCount / ExampleColumns, ExampleColumns, 28, 28, digits.Pixels[..(ExampleCount * 784)]);
        return new(info, DatasetState.Present, $"Verified in {folder}.", files, train, digits.Count, examples);
    }

    DatasetStatus Coloured(DatasetInfo info)
    {
        var mnist = Path.Combine(data.Datasets, "mnist");
        if (!Datasets.IsFetched("mnist", data.Datasets))
            return new(info, DatasetState.Missing, "Made from MNIST on load, and MNIST is not fetched yet (see MNIST above).", [], 0, 0, null);
        var digits = VaeWeb.Engine.Data.Idx.ReadImages(Path.Combine(mnist, "t10k-images-idx3-ubyte"));
        var examples = new ImageGrid(ExampleCount / ExampleColumns, ExampleColumns, 32, 32, ColouredMnist.Make(digits, seed: 2, count: ExampleCount));
        return new(info, DatasetState.Present, "Made from MNIST's files when loaded; nothing of its own is stored (the files are MNIST's).",
            [], info.TrainCount, info.TestCount, examples);
    }

    DatasetStatus Svhn(DatasetInfo info)
    {
        var statuses = SvhnFiles.CheckAll(SvhnFolder, SvhnSpecs);
        // A verified file's MD5 is the official one (that is what verified means): no need to hash it again.
        var files = statuses.Where(s => s.State != SvhnFileState.Missing || !s.Spec.Optional).Select(s => new DatasetFile(s.Spec.Name,
            s.State.ToString().ToLowerInvariant(), s.State == SvhnFileState.Missing ? 0 : new FileInfo(s.Path).Length, "MD5",
            s.State == SvhnFileState.Present ? s.Spec.Md5 : "", s.Message)).ToList();
        var required = statuses.Where(s => !s.Spec.Optional).ToList();
        int Count(string split) => statuses.FirstOrDefault(s => s.Spec.Split == split && s.State == SvhnFileState.Present)?.Images ?? 0;
        if (statuses.Any(s => s.State == SvhnFileState.Invalid))
            return new(info, DatasetState.Invalid, string.Join(" ", statuses.Where(s => s.State == SvhnFileState.Invalid).Select(s => s.Message)), files, Count("train"), Count("test"), null);
        var missing = required.Where(s => s.State == SvhnFileState.Missing).Select(s => s.Spec).ToList();
        ImageGrid? examples = null;
        if (statuses.FirstOrDefault(s => s.Spec.Split == "test" && s.State == SvhnFileState.Present) is { } test)
        {
            var images = SvhnFile.Read(test.Path, keepFirst: ExampleCount);
            int shown = Math.Min(ExampleCount, images.Count);
            examples = new ImageGrid((shown + ExampleColumns - 1) / ExampleColumns, Math.Min(shown, ExampleColumns), 32, 32, images.Pixels!);
        }
        if (missing.Count > 0)
            return new(info, DatasetState.Missing, SvhnFiles.MissingAdvice(SvhnFolder, missing), files, Count("train"), Count("test"), examples);
        return new(info, DatasetState.Present, $"Verified in {SvhnFolder}. Colour models train on it: {string.Join(", ", RunConfig.ColourModels)}.", files, Count("train"), Count("test"), examples);
    }

    string Checksum(string path, Func<Stream, byte[]> hash)
    {
        var file = new FileInfo(path);
        return _checksums.GetOrAdd((path, file.Length, file.LastWriteTimeUtc.Ticks), _ =>
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(hash(stream));
        });
    }
}
