using System.Security.Cryptography;
using VaeWeb.Engine.Data;

namespace VaeWeb.Server.Catalog;

/// <summary>An upload that was refused: the message says why and what to do.</summary>
public sealed class UploadRefusedException(string message) : Exception(message);

/// <summary>
/// Puts an uploaded SVHN file into data/svhn: streamed to disk under a temporary name (hashing as it goes, never more
/// than the official size), verified by size, MD5 and structure, then renamed. Whatever fails, the temporary file is
/// deleted: a refused or half upload leaves nothing behind, and a good file already there is never replaced by a bad one.
/// </summary>
public sealed class SvhnUpload(DatasetCatalog catalog, ILogger<SvhnUpload> log)
{
    readonly SemaphoreSlim _one = new(1, 1);
    /// <summary>The cap for a file whose official size is not on record (extra_32x32.mat): above any SVHN file.</summary>
    public const long UnknownSizeLimit = 2L << 30;

    /// <summary>The most bytes an upload of <paramref name="spec"/> may send.</summary>
    public static long Limit(SvhnFileSpec spec) => spec.Bytes > 0 ? spec.Bytes : UnknownSizeLimit;

    /// <summary>The spec for <paramref name="fileName"/> of <paramref name="size"/> bytes; refuses before anything is read.</summary>
    public SvhnFileSpec Accept(string fileName, long size)
    {
        var spec = catalog.SvhnSpecs.FirstOrDefault(s => s.Name == fileName)
            ?? throw new UploadRefusedException($"{fileName} is not one of SVHN's files ({string.Join(", ", catalog.SvhnSpecs.Select(s => s.Name))}); upload those, under their official names.");
        if (spec.Bytes > 0 && size != spec.Bytes)
            throw new UploadRefusedException($"{fileName} is {size:N0} bytes; the official file is {spec.Bytes:N0} bytes. Download it again from {SvhnFiles.Source}.");
        if (size > Limit(spec))
            throw new UploadRefusedException($"{fileName} is {size:N0} bytes, more than any SVHN file. Download it again from {SvhnFiles.Source}.");
        return spec;
    }

    /// <summary>Saves <paramref name="content"/> as <paramref name="spec"/>'s file; returns what the page says on success.</summary>
    public async Task<string> SaveAsync(SvhnFileSpec spec, Stream content, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!await _one.WaitAsync(0, cancellationToken)) throw new UploadRefusedException("Another SVHN upload is in progress; wait for it to finish.");
        var folder = catalog.SvhnFolder;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{spec.Name}.{Guid.NewGuid():N}.upload");
        try
        {
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            long total = 0;
            await using (var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    total += read;
                    if (total > Limit(spec))
                        throw new UploadRefusedException(spec.Bytes > 0 ? $"{spec.Name} is larger than the official {spec.Bytes:N0} bytes." : $"{spec.Name} is larger than any SVHN file.");
                    md5.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    progress?.Report(total);
                }
            }
            if (spec.Bytes > 0 && total != spec.Bytes)
                throw new UploadRefusedException($"The upload of {spec.Name} stopped at {total:N0} of {spec.Bytes:N0} bytes; try again.");
            var hash = Convert.ToHexStringLower(md5.GetHashAndReset());
            if (hash != spec.Md5)
                throw new UploadRefusedException($"{spec.Name} has MD5 {hash}, not the official {spec.Md5}: it is corrupt or not the official file. Download it again from {SvhnFiles.Source}.");
            var images = await Task.Run(() => SvhnFile.Read(temp, keepPixels: false), cancellationToken);
            if (images.Count != spec.Images)
                throw new UploadRefusedException($"{spec.Name} holds {images.Count:N0} images, not {spec.Images:N0}.");
            File.Move(temp, Path.Combine(folder, spec.Name), overwrite: true);
            log.LogInformation("SVHN file {Name} uploaded and verified ({Images} images)", spec.Name, images.Count);
            catalog.Invalidate();
            return $"{spec.Name} verified and saved: {images.Count:N0} images.";
        }
        catch (MatFileException e)
        {
            throw new UploadRefusedException(e.Message);
        }
        catch (IOException e) when (e is not MatFileException)
        {
            // Includes the browser stream ending early or exceeding its limit: a half upload.
            throw new UploadRefusedException($"The upload of {spec.Name} failed ({e.Message}); nothing was kept. Try again.");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
            _one.Release();
        }
    }
}
