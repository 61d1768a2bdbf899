using System.Security.Cryptography;

namespace VaeWeb.Engine.Data;

/// <summary>One official SVHN file: what it must be, byte for byte.</summary>
public sealed record SvhnFileSpec(string Name, string Split, int Images, long Bytes, string Md5, bool Optional = false);

/// <summary>A file's state in data/svhn: present and verified, missing, or invalid with the reason.</summary>
public sealed record SvhnFileStatus(SvhnFileSpec Spec, string Path, SvhnFileState State, string Message, int Images = 0);

public enum SvhnFileState { Present, Missing, Invalid }

/// <summary>
/// The official SVHN files, which no registry here serves: the user downloads them and puts them in data/svhn/ (or
/// uploads them on the Data page). Each is checked by size, MD5 and structure; what failed is said plainly.
/// </summary>
public static class SvhnFiles
{
    public const string Folder = "svhn";
    public const string Source = "http://ufldl.stanford.edu/housenumbers/";

    public static readonly IReadOnlyList<SvhnFileSpec> Official =
    [
        new("train_32x32.mat", "train", 73_257, 182_040_794, "e26dedcc434d2e4c54c9b2d4a06d8373"),
        new("test_32x32.mat", "test", 26_032, 64_275_384, "eb5a983be6a315427106f1b164d9cef3"),
        // The extra file's size is not on record here: 0 leaves the MD5 to decide.
        new("extra_32x32.mat", "extra", 531_131, 0, "a93ce644f1a588dc4d68dda5feec44a7", Optional: true),
    ];

    /// <summary>What to do when the files are not there; the CLI, the form and the Data page all say this.</summary>
    public static string MissingAdvice(string folder, IEnumerable<SvhnFileSpec> missing) =>
        $"SVHN's files are missing: {string.Join(" and ", missing.Select(s => s.Name))}. Download {(missing.Count() == 1 ? "it" : "them")} (\"Format 2: Cropped Digits\") " +
        $"from {Source} and put them in {folder}, or upload them on the Data page; no registry here serves SVHN.";

    /// <summary>Checks one file: present, official size (shorter and ending mid-data: truncated), MD5, then structure.</summary>
    public static SvhnFileStatus Check(string folder, SvhnFileSpec spec, Action<double>? progress = null)
    {
        var path = System.IO.Path.Combine(folder, spec.Name);
        if (!File.Exists(path)) return new(spec, path, SvhnFileState.Missing, $"{spec.Name} is missing from {folder}.");
        SvhnFileStatus Invalid(string message) => new(spec, path, SvhnFileState.Invalid, $"{spec.Name}: {message}");
        try
        {
            long length = new FileInfo(path).Length;
            if (spec.Bytes > 0 && length != spec.Bytes)
            {
                // Read it anyway (bounded by its own size): "not a MAT-file" and "truncated" say more than "wrong size".
                var read = SvhnFile.Read(path, keepPixels: false);
                return Invalid($"it is {length:N0} bytes, not the official {spec.Bytes:N0} ({read.Count:N0} images, not {spec.Images:N0}): " +
                               $"it is not the official file. Download it again from {Source}.");
            }
            string md5;
            using (var stream = File.OpenRead(path)) md5 = Convert.ToHexStringLower(MD5.HashData(stream));
            if (md5 != spec.Md5)
                return Invalid($"its MD5 is {md5}, not the official {spec.Md5}: it is corrupt or not the official file. Download it again from {Source}.");
            var images = SvhnFile.Read(path, keepPixels: false, progress);
            if (images.Count != spec.Images)
                return Invalid($"it holds {images.Count:N0} images, not {spec.Images:N0}.");
            return new(spec, path, SvhnFileState.Present, $"{spec.Name}: verified ({images.Count:N0} images).", images.Count);
        }
        catch (MatFileException e) when (e.Problem == MatProblem.Truncated)
        {
            return Invalid($"it is truncated ({new FileInfo(path).Length:N0}{(spec.Bytes > 0 ? $" of {spec.Bytes:N0}" : "")} bytes): the download stopped early. Download it again from {Source}.");
        }
        catch (MatFileException e)
        {
            return Invalid(e.Message[(spec.Name.Length + 2)..]);
        }
        catch (IOException e)
        {
            return Invalid($"it cannot be read ({e.Message}).");
        }
    }

    /// <summary>
    /// Every file's status. A file that verified once is remembered in a marker (name, size, write time), so the
    /// 182 MB hash and decompression are not repeated on every load; any change sends it through the check again.
    /// </summary>
    public static IReadOnlyList<SvhnFileStatus> CheckAll(string folder, IReadOnlyList<SvhnFileSpec>? specs = null, Action<string, double>? progress = null)
    {
        var results = new List<SvhnFileStatus>();
        foreach (var spec in specs ?? Official)
        {
            var path = System.IO.Path.Combine(folder, spec.Name);
            if (File.Exists(path) && Remembered(folder, spec, path) is { } images)
            {
                results.Add(new(spec, path, SvhnFileState.Present, $"{spec.Name}: verified ({images:N0} images).", images));
                continue;
            }
            var status = Check(folder, spec, progress is null ? null : p => progress(spec.Name, p));
            if (status.State == SvhnFileState.Present) Remember(folder, spec, path, status.Images);
            results.Add(status);
        }
        return results;
    }

    /// <summary>Throws <see cref="DatasetUnavailableException"/> saying what is wrong unless the train and test files verify.</summary>
    public static void EnsurePresent(string folder, IReadOnlyList<SvhnFileSpec>? specs = null)
    {
        var statuses = CheckAll(folder, specs).Where(s => !s.Spec.Optional).ToList();
        var missing = statuses.Where(s => s.State == SvhnFileState.Missing).Select(s => s.Spec).ToList();
        var invalid = statuses.Where(s => s.State == SvhnFileState.Invalid).Select(s => s.Message).ToList();
        if (missing.Count == 0 && invalid.Count == 0) return;
        var message = string.Join(Environment.NewLine, invalid.Concat(missing.Count > 0 ? [MissingAdvice(folder, missing)] : []));
        throw new DatasetUnavailableException("svhn", [.. invalid, .. missing.Select(m => $"{m.Name} is missing")], message);
    }

    static string MarkerPath(string folder, SvhnFileSpec spec) => System.IO.Path.Combine(folder, $".{spec.Name}.verified");

    static string Fingerprint(SvhnFileSpec spec, string path, int images)
    {
        var info = new FileInfo(path);
        return $"{spec.Name} {spec.Md5} {info.Length} {info.LastWriteTimeUtc.Ticks} {images}";
    }

    static int? Remembered(string folder, SvhnFileSpec spec, string path)
    {
        var marker = MarkerPath(folder, spec);
        if (!File.Exists(marker)) return null;
        var text = File.ReadAllText(marker);
        return int.TryParse(text.Split(' ')[^1], out var images) && text == Fingerprint(spec, path, images) ? images : null;
    }

    static void Remember(string folder, SvhnFileSpec spec, string path, int images)
    {
        try { File.WriteAllText(MarkerPath(folder, spec), Fingerprint(spec, path, images)); }
        catch (IOException) { }                                                  // a read-only folder just checks again next time
        catch (UnauthorizedAccessException) { }
    }
}
