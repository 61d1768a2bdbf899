using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

public class NativeLibraryTests
{
    /// <summary>The library exactly as NuGet ships it (never modified: tests copy it before rewriting).</summary>
    static string ShippedLibrary()
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", TorchRuntime.NativeLibraryName);
        Assert.True(File.Exists(path), $"TorchSharp's native library is not at {path}: run 'dotnet restore' first.");
        return path;
    }

    [Fact]
    public void Shipped_library_needs_GLIBCXX_3_4_32_and_every_stored_hash_is_the_elf_hash_of_its_name()
    {
        var requirements = ElfSymbolVersions.Read(ShippedLibrary()).Requirements();

        Assert.Contains(requirements, r => r.Library == "libstdc++.so.6" && r.Version == "GLIBCXX_3.4.32");
        Assert.Contains(requirements, r => r.Library == "libc.so.6" && r.Version.StartsWith("GLIBC_2."));
        // The linker wrote vna_hash for each entry; our ElfHash must agree with all of them.
        Assert.All(requirements, r => Assert.Equal(r.Hash, ElfSymbolVersions.ElfHash(r.Version)));
    }

    [Fact]
    public void Rewrite_changes_only_the_one_requirement_and_keeps_the_file_size()
    {
        var original = File.ReadAllBytes(ShippedLibrary());
        var elf = new ElfSymbolVersions((byte[])original.Clone());

        Assert.Equal(1, elf.RewriteRequirement("libstdc++.so.6", "GLIBCXX_3.4.32", "GLIBCXX_3.4.30"));

        var before = new ElfSymbolVersions(original).Requirements();
        var after = new ElfSymbolVersions(elf.Image).Requirements();
        Assert.Equal(original.Length, elf.Image.Length);
        Assert.DoesNotContain(after, r => r.Version == "GLIBCXX_3.4.32");
        Assert.Equal(before.Count, after.Count);
        var changed = before.Zip(after).Where(p => p.First != p.Second).ToList();
        var (old, @new) = Assert.Single(changed);
        Assert.Equal(("libstdc++.so.6", "GLIBCXX_3.4.30", ElfSymbolVersions.ElfHash("GLIBCXX_3.4.30")), (@new.Library, @new.Version, @new.Hash));
        Assert.Equal(old.AuxOffset, @new.AuxOffset);
        // 16 bytes of a Vernaux entry hold the change; vna_hash and vna_name are the only bytes that differ.
        var differing = Enumerable.Range(0, original.Length).Where(i => original[i] != elf.Image[i]).ToList();
        Assert.All(differing, i => Assert.True(i - old.AuxOffset is >= 0 and < 4 or >= 8 and < 12, $"byte {i} changed"));
    }

    /// <summary>Skips unless this system's libstdc++ lacks GLIBCXX_3.4.32 (Debian 12, Ubuntu 22.04): newer ones need no repair.</summary>
    static void SkipUnlessTheSystemNeedsTheRepair()
    {
        var path = TorchRuntime.FindSystemStdCxx();
        Assert.NotNull(path);
        Skip.If(ElfSymbolVersions.Read(path).Definitions().Contains("GLIBCXX_3.4.32"),
            $"{path} defines GLIBCXX_3.4.32 (GCC 13 or later): TorchSharp loads as shipped, there is nothing to repair here.");
    }

    [SkippableFact]
    public void System_libstdcxx_defines_its_versions_and_lacks_3_4_32_on_this_distribution()
    {
        SkipUnlessTheSystemNeedsTheRepair();
        var path = TorchRuntime.FindSystemStdCxx()!;
        var defined = ElfSymbolVersions.Read(path).Definitions();
        Assert.Contains("GLIBCXX_3.4", defined);
        Assert.Contains("GLIBCXX_3.4.30", defined);     // GCC 12, Debian 12: the version the rewrite points to
        Assert.DoesNotContain("GLIBCXX_3.4.32", defined);
    }

    [SkippableFact]
    public void Repair_rewrites_copies_in_the_app_folder_once_and_leaves_them_alone_after()
    {
        SkipUnlessTheSystemNeedsTheRepair();
        var app = TempFolders.Create("vaeweb-app-");
        var native = Directory.CreateDirectory(Path.Combine(app.FullName, "runtimes", "linux-x64", "native"));
        var copy = Path.Combine(native.FullName, TorchRuntime.NativeLibraryName);
        File.Copy(ShippedLibrary(), copy);
        var log = new List<string>();

        var first = TorchRuntime.RepairNativeLibrary(app.FullName, log.Add);
        var second = TorchRuntime.RepairNativeLibrary(app.FullName, log.Add);

        Assert.Equal([copy], first);
        Assert.Empty(second);
        Assert.Single(log);
        Assert.Contains("GLIBCXX_3.4.32", log[0]);
        Assert.DoesNotContain(ElfSymbolVersions.Read(copy).Requirements(), r => r.Version == "GLIBCXX_3.4.32");
        Assert.Equal(File.ReadAllBytes(ShippedLibrary()).Length, new FileInfo(copy).Length);
        app.Delete(recursive: true);
    }

    [Fact]
    public void Not_an_elf_file_is_a_clear_error()
    {
        var error = Assert.Throws<InvalidDataException>(() => new ElfSymbolVersions(new byte[100]));
        Assert.Contains("Not an ELF file", error.Message);
    }

    [Fact]
    public void TorchSharp_initializes_and_runs_a_backward_pass()
    {
        TorchRuntime.EnsureInitialized();
        using var x = tensor(new float[] { 1, -2, 3 }, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        Assert.Equal(new float[] { 2, -4, 6 }, x.grad!.data<float>().ToArray());
    }
}
