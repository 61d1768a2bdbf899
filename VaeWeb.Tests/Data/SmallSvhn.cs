using System.Security.Cryptography;
using VaeWeb.Engine.Data;

namespace VaeWeb.Tests.Data;

/// <summary>
/// SVHN-shaped stand-ins for the official files (which are not here): train_32x32.mat and test_32x32.mat of a few
/// coloured images each, written into a "downloads" folder, with the specs that make them the expected files.
/// </summary>
public sealed class SmallSvhn
{
    public string Downloads { get; } = TempFolders.Create("vaeweb-svhn-downloads-").FullName;
    public IReadOnlyList<SvhnFileSpec> Specs { get; }

    public SmallSvhn(int train = 50, int test = 30)
    {
        Specs = [Write("train_32x32.mat", "train", train, seed: 1), Write("test_32x32.mat", "test", test, seed: 2)];
    }

    public string PathOf(string name) => Path.Combine(Downloads, name);

    SvhnFileSpec Write(string name, string split, int count, int seed)
    {
        // Coloured blocks rather than noise, so the Data page's examples look like something in the screenshot.
        var (planar, labels) = MatFileWriter.SvhnLike(count, seed);
        for (int i = 0; i < planar.Length; i++) planar[i] = (byte)(planar[i] / 4 + (i / 3072 * 37 + (i % 3072) / 1024 * 90 + (i % 1024) / 128 * 8) % 192);
        var bytes = new MatFileWriter().SvhnImages(planar, count).Labels(labels).ToBytes();
        File.WriteAllBytes(PathOf(name), bytes);
        return new SvhnFileSpec(name, split, count, bytes.Length, Convert.ToHexStringLower(MD5.HashData(bytes)));
    }
}
