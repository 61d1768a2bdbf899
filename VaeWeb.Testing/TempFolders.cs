namespace VaeWeb.Testing;

/// <summary>
/// Where tests and benchmarks put their databases, run folders and downloads: one root folder per process
/// (vaeweb-tests-…), deleted when the process exits normally. A root whose process ended otherwise is deleted by the next
/// process that makes one, since its lock file is no longer held. `dotnet test` ends its test host that way: a full
/// suite's root (≈ 0.8 GB) stays until the next test run. Before this, every test run left its folders in /tmp for good
/// (about 140 MB a web test), and a full disk failed a later CI build.
/// </summary>
public static class TempFolders
{
    const string RootPrefix = "vaeweb-tests-", LockName = ".in-use";
    static readonly Lazy<string> Root = new(CreateRoot);
    static FileStream? _lock;

    /// <summary>A new empty folder named <paramref name="prefix"/>… under this process's root.</summary>
    public static DirectoryInfo Create(string prefix) =>
        Directory.CreateDirectory(Path.Combine(Root.Value, prefix + Path.GetRandomFileName().Replace(".", "")));

    static string CreateRoot()
    {
        foreach (var stale in Directory.EnumerateDirectories(Path.GetTempPath(), RootPrefix + "*")) DeleteIfAbandoned(stale);
        var root = Directory.CreateTempSubdirectory(RootPrefix).FullName;
        // Made 0700; others must pass through it: the PostgreSQL server of ClusterTests runs as user postgres, in its own folder here.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        // .NET locks a FileShare.None file with flock on Unix: the lock lives exactly as long as this process.
        _lock = new FileStream(Path.Combine(root, LockName), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            _lock.Dispose();
            TryDelete(root);
        };
        return root;
    }

    static void DeleteIfAbandoned(string root)
    {
        try
        {
            using (new FileStream(Path.Combine(root, LockName), FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
        }
        catch (FileNotFoundException) when (Directory.GetLastWriteTimeUtc(root) < DateTime.UtcNow.AddMinutes(-1)) { }   // no lock file for a minute: abandoned
        catch (FileNotFoundException) { return; }           // a process between making its root and locking it
        catch (IOException) { return; }                     // held: its process is still running
        catch (UnauthorizedAccessException) { return; }     // another user's
        TryDelete(root);
    }

    static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // a child process still writing: the next run deletes it
    }
}
