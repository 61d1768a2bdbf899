using System.Security.Cryptography;
using VaeWeb.Engine.Data;

namespace VaeWeb.Tests.Data;

/// <summary>The MATLAB 5 reader and SVHN's checks, on files the tests write (see <see cref="MatFileWriter"/>).</summary>
public sealed class MatFileTests : IDisposable
{
    readonly string _dir = TempFolders.Create("vaeweb-mat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string PathOf(string name) => Path.Combine(_dir, name);

    [Theory]
    [InlineData(true, true, MatFile.DataType.Double)]
    [InlineData(true, false, MatFile.DataType.UInt8)]
    [InlineData(false, true, MatFile.DataType.UInt8)]
    [InlineData(false, false, MatFile.DataType.Double)]
    public void Svhn_shaped_files_read_back_as_planar_images_and_labels_0_to_9(bool littleEndian, bool compressed, MatFile.DataType labelStorage)
    {
        var (planar, labels) = MatFileWriter.SvhnLike(25);
        var path = new MatFileWriter(littleEndian, compressed).SvhnImages(planar, 25).Labels(labels, labelStorage).Save(PathOf("x.mat"));
        var progress = new List<double>();

        var images = SvhnFile.Read(path, progress: progress.Add);

        Assert.Equal(25, images.Count);
        Assert.Equal(planar, images.Pixels);                                    // column-major MATLAB order undone exactly
        Assert.Equal(labels.Select(l => (byte)(l % 10)), images.Labels);         // 10 is the digit 0
        Assert.Equal(1, progress[^1]);
    }

    [Fact]
    public void The_image_order_is_matlabs_column_major_a_known_pixel_lands_where_it_should()
    {
        var planar = new byte[2 * 3072];
        planar[3072 + 2 * 1024 + 5 * 32 + 7] = 200;                                // image 1, blue, row 5, column 7
        var path = new MatFileWriter().SvhnImages(planar, 2).Labels([1, 2]).Save(PathOf("one.mat"));
        var bytes = File.ReadAllBytes(new MatFileWriter(compressed: false).SvhnImages(planar, 2).Labels([1, 2]).Save(PathOf("plain.mat")));
        // In the file the byte sits at r + 32·c + 1024·ch + 3072·n after X's data tag, which ends at byte 192
        // (header 128, matrix tag 8, flags 16, dimensions 24, the one-letter name as a small element 8, data tag 8).
        Assert.Equal(200, bytes[192 + 5 + 32 * 7 + 1024 * 2 + 3072]);

        var images = SvhnFile.Read(path);
        Assert.Equal(200, images.Pixels![3072 + 2 * 1024 + 5 * 32 + 7]);
        Assert.Equal(1, images.Pixels.Count(b => b != 0));
    }

    [Fact]
    public void Keep_pixels_false_checks_everything_and_keeps_no_pixels()
    {
        var (planar, labels) = MatFileWriter.SvhnLike(10);
        var path = new MatFileWriter().SvhnImages(planar, 10).Labels(labels).Save(PathOf("x.mat"));
        var images = SvhnFile.Read(path, keepPixels: false);
        Assert.Equal(10, images.Count);
        Assert.Null(images.Pixels);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_truncated_file_says_so(bool compressed)
    {
        var (planar, labels) = MatFileWriter.SvhnLike(20);
        var bytes = new MatFileWriter(compressed: compressed).SvhnImages(planar, 20).Labels(labels).ToBytes();
        foreach (var cut in new[] { 100, 140, bytes.Length / 2, bytes.Length - 3 })
        {
            File.WriteAllBytes(PathOf("cut.mat"), bytes[..cut]);
            var error = Assert.Throws<MatFileException>(() => SvhnFile.Read(PathOf("cut.mat")));
            Assert.Equal(MatProblem.Truncated, error.Problem);
            Assert.Contains("cut.mat: the file ends in the middle of its data", error.Message);
            Assert.Contains("Download it again", error.Message);
        }
    }

    [Fact]
    public void Files_that_are_not_matlab_5_say_so()
    {
        File.WriteAllText(PathOf("text.mat"), "<html>404 Not Found</html>");
        var html = Assert.Throws<MatFileException>(() => SvhnFile.Read(PathOf("text.mat")));
        Assert.Equal(MatProblem.NotMatlab5, html.Problem);
        Assert.Contains("not a MATLAB 5 MAT-file", html.Message);

        // MATLAB 7.3 files start with a MAT-style text header too, but version 0x0200 and HDF5 after it.
        var v73 = new MatFileWriter().ToBytes();
        v73[124] = 0x00; v73[125] = 0x02;
        File.WriteAllBytes(PathOf("v73.mat"), v73);
        Assert.Contains("MATLAB 7.3 (HDF5)", Assert.Throws<MatFileException>(() => SvhnFile.Read(PathOf("v73.mat"))).Message);

        var noEndian = new MatFileWriter().ToBytes();
        noEndian[126] = (byte)'X';
        File.WriteAllBytes(PathOf("endian.mat"), noEndian);
        Assert.Contains("no endian indicator", Assert.Throws<MatFileException>(() => SvhnFile.Read(PathOf("endian.mat"))).Message);
    }

    [Fact]
    public void Wrong_shapes_and_missing_variables_say_what_svhn_holds()
    {
        var (planar, labels) = MatFileWriter.SvhnLike(4);
        var grey = new MatFileWriter().SvhnImages(planar, 4, dims: [32, 32, 1, 12]).Labels(labels).Save(PathOf("grey.mat"));
        var error = Assert.Throws<MatFileException>(() => SvhnFile.Read(grey));
        Assert.Equal(MatProblem.WrongShape, error.Problem);
        Assert.Contains("X is 32×32×1×12 UInt8; SVHN's X is 32×32×3×N uint8", error.Message);

        var noLabels = new MatFileWriter().SvhnImages(planar, 4).Save(PathOf("nolabels.mat"));
        Assert.Contains("it has no y (the labels)", Assert.Throws<MatFileException>(() => SvhnFile.Read(noLabels)).Message);

        var fewer = new MatFileWriter().SvhnImages(planar, 4).Labels(labels[..3]).Save(PathOf("fewer.mat"));
        Assert.Contains("4 images but 3 labels", Assert.Throws<MatFileException>(() => SvhnFile.Read(fewer)).Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(11)]
    [InlineData(2.5)]
    public void Labels_outside_1_to_10_are_refused(double bad)
    {
        var (planar, labels) = MatFileWriter.SvhnLike(6);
        labels[4] = bad;
        var path = new MatFileWriter(littleEndian: false).SvhnImages(planar, 6).Labels(labels).Save(PathOf("labels.mat"));
        var error = Assert.Throws<MatFileException>(() => SvhnFile.Read(path));
        Assert.Equal(MatProblem.BadLabels, error.Problem);
        Assert.Contains($"label 5 is {bad}; SVHN's labels are 1–10 (10 for the digit 0)", error.Message);
    }

    [Fact]
    public void Corrupt_compressed_data_is_a_clear_error()
    {
        var (planar, labels) = MatFileWriter.SvhnLike(20);
        var bytes = new MatFileWriter().SvhnImages(planar, 20).Labels(labels).ToBytes();
        for (int i = 200; i < 260; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(PathOf("corrupt.mat"), bytes);
        var error = Assert.Throws<MatFileException>(() => SvhnFile.Read(PathOf("corrupt.mat")));
        Assert.Contains("Download it again", error.Message);
    }

    [Fact]
    public void Svhn_file_checks_name_each_problem_and_remember_a_verified_file()
    {
        var (planar, labels) = MatFileWriter.SvhnLike(30);
        var good = new MatFileWriter().SvhnImages(planar, 30).Labels(labels).ToBytes();
        var spec = new SvhnFileSpec("train_32x32.mat", "train", 30, good.Length, Convert.ToHexStringLower(MD5.HashData(good)));
        string Check() => SvhnFiles.CheckAll(_dir, [spec])[0].Message;

        Assert.Equal($"train_32x32.mat is missing from {_dir}.", Check());
        File.WriteAllBytes(PathOf(spec.Name), good[..(good.Length / 2)]);
        Assert.Contains($"it is truncated ({good.Length / 2:N0} of {good.Length:N0} bytes)", Check());
        File.WriteAllText(PathOf(spec.Name), "not a mat file");
        Assert.Contains("not a MATLAB 5 MAT-file", Check());
        new MatFileWriter().SvhnImages(planar[..(10 * 3072)], 10).Labels(labels[..10]).Save(PathOf(spec.Name));
        Assert.Contains($"not the official {good.Length:N0} (10 images, not 30)", Check());
        var flipped = (byte[])good.Clone();
        flipped[^1] ^= 1;
        File.WriteAllBytes(PathOf(spec.Name), flipped);
        Assert.Contains("its MD5 is", Check());

        File.WriteAllBytes(PathOf(spec.Name), good);
        var status = SvhnFiles.CheckAll(_dir, [spec])[0];
        Assert.Equal((SvhnFileState.Present, 30), (status.State, status.Images));
        Assert.True(File.Exists(PathOf(".train_32x32.mat.verified")));
        Assert.Equal(SvhnFileState.Present, SvhnFiles.CheckAll(_dir, [spec])[0].State);   // from the marker
    }

    /// <summary>The official files, when the user has supplied them (no registry here serves SVHN).</summary>
    [SkippableFact]
    public void The_official_svhn_files_verify_and_read_with_their_published_counts()
    {
        var folder = Path.Combine(Datasets.DefaultDirectory(), SvhnFiles.Folder);
        var absent = SvhnFiles.Official.Where(s => !s.Optional && !File.Exists(Path.Combine(folder, s.Name))).ToList();
        Skip.If(absent.Count > 0, $"SVHN's official files are not here: {SvhnFiles.MissingAdvice(folder, absent)}");

        foreach (var status in SvhnFiles.CheckAll(folder).Where(s => !s.Spec.Optional))
        {
            Assert.True(status.State == SvhnFileState.Present, status.Message);
            Assert.Equal(status.Spec.Images, status.Images);
        }
        var test = SvhnFile.Read(Path.Combine(folder, "test_32x32.mat"), keepFirst: 10);
        Assert.Equal(26_032, test.Count);
        Assert.Equal(10, test.Labels.Distinct().Count());
    }

    [Fact]
    public void Missing_svhn_files_are_named_with_where_to_put_them_and_where_to_get_them()
    {
        var error = Assert.Throws<DatasetUnavailableException>(() => Datasets.EnsureAsync("svhn", _dir).GetAwaiter().GetResult());
        Assert.Contains("train_32x32.mat and test_32x32.mat", error.Message);
        Assert.Contains(Path.Combine(_dir, "svhn"), error.Message);
        Assert.Contains("http://ufldl.stanford.edu/housenumbers/", error.Message);
        Assert.DoesNotContain("extra_32x32.mat", error.Message);               // optional
    }
}
