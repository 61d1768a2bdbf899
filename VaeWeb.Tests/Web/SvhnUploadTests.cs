using Microsoft.Extensions.Logging.Abstractions;
using VaeWeb.Engine.Data;
using VaeWeb.Server;
using VaeWeb.Server.Catalog;
using VaeWeb.Tests.Data;

namespace VaeWeb.Tests.Web;

/// <summary>The Data page's upload, server side: only verified official files land in data/svhn, nothing else is left.</summary>
public sealed class SvhnUploadTests : IDisposable
{
    readonly string _root = TempFolders.Create("vaeweb-upload-").FullName;
    readonly SmallSvhn _svhn = new();
    readonly DatasetCatalog _catalog;
    readonly SvhnUpload _upload;

    public SvhnUploadTests()
    {
        _catalog = new DatasetCatalog(new DataFolder(_root, Path.Combine(_root, "vaeweb.db"), Path.Combine(_root, "runs")),
            new SvhnOptions { Files = _svhn.Specs }, NullLogger<DatasetCatalog>.Instance);
        _upload = new SvhnUpload(_catalog, NullLogger<SvhnUpload>.Instance);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_svhn.Downloads, recursive: true);
    }

    string[] SvhnFolderFiles() => Directory.Exists(_catalog.SvhnFolder) ? Directory.GetFiles(_catalog.SvhnFolder) : [];

    async Task<string> Upload(string name, byte[] bytes, Stream? stream = null)
    {
        var spec = _upload.Accept(name, bytes.Length);
        return await _upload.SaveAsync(spec, stream ?? new MemoryStream(bytes));
    }

    [Fact]
    public async Task Good_files_are_verified_and_saved_under_their_names()
    {
        var test = File.ReadAllBytes(_svhn.PathOf("test_32x32.mat"));
        Assert.Equal("test_32x32.mat verified and saved: 30 images.", await Upload("test_32x32.mat", test));
        Assert.Equal(test, File.ReadAllBytes(Path.Combine(_catalog.SvhnFolder, "test_32x32.mat")));
        Assert.Single(SvhnFolderFiles());
        Assert.Contains("train_32x32.mat", _catalog.SvhnMissing());
    }

    [Fact]
    public async Task Wrong_names_sizes_contents_and_half_uploads_are_refused_with_the_reason_and_leave_nothing()
    {
        var good = File.ReadAllBytes(_svhn.PathOf("test_32x32.mat"));
        Assert.Contains("notes.mat is not one of SVHN's files", Assert.Throws<UploadRefusedException>(() => _upload.Accept("notes.mat", 10)).Message);
        Assert.Contains($"is 10 bytes; the official file is {good.Length:N0} bytes",
            Assert.Throws<UploadRefusedException>(() => _upload.Accept("test_32x32.mat", 10)).Message);

        var flipped = (byte[])good.Clone();
        flipped[^5] ^= 0xFF;
        var md5 = await Assert.ThrowsAsync<UploadRefusedException>(() => Upload("test_32x32.mat", flipped));
        Assert.Contains("not the official", md5.Message);

        // The browser's stream breaks off half way (a closed tab, a dropped connection).
        var half = new BreakingStream(good, good.Length / 2);
        var broken = await Assert.ThrowsAsync<UploadRefusedException>(() => Upload("test_32x32.mat", good, half));
        Assert.Contains("nothing was kept", broken.Message);

        // A stream that sends more than the official size is cut off.
        var longer = await Assert.ThrowsAsync<UploadRefusedException>(() => Upload("test_32x32.mat", good, new MemoryStream([.. good, 1, 2, 3])));
        Assert.Contains("larger than the official", longer.Message);
        Assert.Empty(SvhnFolderFiles());

        // A verified file already there is not touched by a bad upload.
        await Upload("test_32x32.mat", good);
        await Assert.ThrowsAsync<UploadRefusedException>(() => Upload("test_32x32.mat", flipped));
        Assert.Equal(good, File.ReadAllBytes(Path.Combine(_catalog.SvhnFolder, "test_32x32.mat")));
        Assert.Single(SvhnFolderFiles());
    }

    [Fact]
    public void The_official_files_are_expected_at_their_official_sizes_and_the_extra_file_below_a_cap()
    {
        var official = new SvhnUpload(new DatasetCatalog(new DataFolder(_root, "", ""), new SvhnOptions(), NullLogger<DatasetCatalog>.Instance), NullLogger<SvhnUpload>.Instance);
        Assert.Equal(182_040_794, official.Accept("train_32x32.mat", 182_040_794).Bytes);
        Assert.Contains("the official file is 64,275,384 bytes", Assert.Throws<UploadRefusedException>(() => official.Accept("test_32x32.mat", 64_275_383)).Message);
        Assert.Equal("a93ce644f1a588dc4d68dda5feec44a7", official.Accept("extra_32x32.mat", 1_000_000_000).Md5);
        Assert.Contains("more than any SVHN file", Assert.Throws<UploadRefusedException>(() => official.Accept("extra_32x32.mat", 3L << 30)).Message);
    }

    [Fact]
    public async Task A_right_sized_file_that_is_not_a_mat_file_is_refused_by_its_structure()
    {
        // Same size and, through a spec made for it, the expected MD5: only the structure check can catch it.
        var junk = new byte[4000];
        new Random(3).NextBytes(junk);
        var spec = new SvhnFileSpec("test_32x32.mat", "test", 30, junk.Length, Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(junk)));
        var error = await Assert.ThrowsAsync<UploadRefusedException>(() => _upload.SaveAsync(spec, new MemoryStream(junk)));
        Assert.Contains("not a MATLAB 5 MAT-file", error.Message);
        Assert.Empty(SvhnFolderFiles());
    }

    /// <summary>Gives the first <c>limit</c> bytes, then fails as a dropped connection does.</summary>
    sealed class BreakingStream(byte[] bytes, int limit) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count) => Position >= limit ? throw new IOException("the connection was closed") : base.Read(buffer, offset, (int)Math.Min(count, limit - Position));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= limit ? throw new IOException("the connection was closed") : base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, limit - Position)], cancellationToken);
    }
}
