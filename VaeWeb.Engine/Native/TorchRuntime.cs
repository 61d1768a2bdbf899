using TorchSharp;

namespace VaeWeb.Engine.Native;

/// <summary>
/// The one entry point that makes TorchSharp usable: repairs the native library if this system needs it, then
/// initializes libtorch once. Call it before the first tensor is created.
/// </summary>
public static class TorchRuntime
{
    // TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13 and asks libstdc++ for GLIBCXX_3.4.32, which
    // Debian 12 / Ubuntu 22.04 (GCC 12, up to 3.4.30) lack. The only symbol it needs at that version is
    // _ZSt21ios_base_library_initv, a bare .globl marker that <iostream> emits with no relocation against it, so
    // asking for 3.4.30 instead is safe: that is the whole fix.
    public const string NativeLibraryName = "libLibTorchSharp.so";
    const string StdCxx = "libstdc++.so.6", Wanted = "GLIBCXX_3.4.32", Available = "GLIBCXX_3.4.30";

    static readonly Lock Gate = new();
    static bool _initialized;

    public static void EnsureInitialized(Action<string>? log = null)
    {
        lock (Gate)
        {
            if (_initialized) return;
            NativeWork.WatchProcessExit();
            if (OperatingSystem.IsLinux()) RepairNativeLibrary(AppContext.BaseDirectory, log ?? Console.Error.WriteLine);
            torch.InitializeDeviceType(DeviceType.CPU);
            _initialized = true;
        }
    }

    /// <summary>
    /// Rewrites the GLIBCXX_3.4.32 requirement of the copies of libLibTorchSharp.so below <paramref name="appDirectory"/>
    /// when the system libstdc++ lacks that version. Never touches files outside the app's own output. Idempotent.
    /// Returns the files it rewrote.
    /// </summary>
    public static IReadOnlyList<string> RepairNativeLibrary(string appDirectory, Action<string> log, string? systemStdCxx = null)
    {
        systemStdCxx ??= FindSystemStdCxx();
        if (systemStdCxx is null || ElfSymbolVersions.Read(systemStdCxx).Definitions().Contains(Wanted))
            return [];

        var rewritten = new List<string>();
        foreach (var path in Directory.EnumerateFiles(appDirectory, NativeLibraryName, SearchOption.AllDirectories))
        {
            var elf = ElfSymbolVersions.Read(path);
            if (elf.RewriteRequirement(StdCxx, Wanted, Available) == 0) continue;
            WriteAtomically(path, elf.Image);
            rewritten.Add(path);
            log($"TorchSharp: {systemStdCxx} lacks {Wanted}; rewrote that requirement to {Available} in {path} (see docs in README, 'TorchSharp on Debian 12').");
        }
        return rewritten;
    }

    /// <summary>The libstdc++ this process will link against: the one already mapped (the .NET runtime uses it), else the usual paths.</summary>
    public static string? FindSystemStdCxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && line.EndsWith("/" + StdCxx, StringComparison.Ordinal)) return line[slash..];
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        string[] usual = ["/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/usr/lib64/", "/lib64/", "/usr/lib/"];
        return usual.Select(dir => dir + StdCxx).FirstOrDefault(File.Exists);
    }

    static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temp, bytes);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, File.GetUnixFileMode(path));
        File.Move(temp, path, overwrite: true);
    }
}
