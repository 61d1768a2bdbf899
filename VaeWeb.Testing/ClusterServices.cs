using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VaeWeb.Testing;

/// <summary>
/// A real PostgreSQL server of Debian's packages, as its own processes in a temporary folder of its own (initdb, then
/// pg_ctl on a free loopback port; never the system service). PostgreSQL refuses to run as root: as root the folder
/// is given to the <c>postgres</c> user the package creates and the server runs as that user (runuser).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    readonly string _bin, _folder;
    readonly string? _user;
    public int Port { get; }

    PostgresServer(string bin, string folder, string? user, int port) => (_bin, _folder, _user, Port) = (bin, folder, user, port);

    /// <summary>The folder of initdb, pg_ctl and createdb (Debian's /usr/lib/postgresql/N/bin, else PATH), or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries()
    {
        string[] tools = ["initdb", "pg_ctl", "createdb"];
        var debian = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql").Select(v => Path.Combine(v, "bin")).OrderDescending().ToArray() : [];
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        return debian.Concat(path).FirstOrDefault(d => tools.All(t => File.Exists(Path.Combine(d, t))));
    }

    /// <summary>Why PostgreSQL cannot be started here (for a skipped test), or null when it can.</summary>
    public static string? Unavailable() => FindBinaries() is null
        ? "PostgreSQL is not installed (scripts/setup --tests installs Debian's postgresql)."
        : Environment.UserName == "root" && !File.Exists("/usr/sbin/runuser") ? "running as root without runuser, and PostgreSQL refuses root." : null;

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException(Unavailable());
        var folder = TempFolders.Create("vaeweb-postgres-").FullName;
        string? user = Environment.UserName == "root" ? "postgres" : null;
        if (user is not null) await Run("chown", ["-R", user, folder]);
        var port = FreePort();
        var server = new PostgresServer(bin, folder, user, port);
        await server.As(Path.Combine(bin, "initdb"), ["-D", Path.Combine(folder, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        await server.As(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(folder, "data"), "-l", Path.Combine(folder, "postgres.log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", "start"]);
        return server;
    }

    /// <summary>A connection string to a database of this server (created when <paramref name="create"/>).</summary>
    public async Task<string> DatabaseAsync(string name, bool create = true)
    {
        if (create) await As(Path.Combine(_bin, "createdb"), ["-h", "127.0.0.1", "-p", Port.ToString(), "-U", "postgres", name]);
        return $"Host=127.0.0.1;Port={Port};Database={name};Username=postgres";
    }

    Task As(string program, IEnumerable<string> args) =>
        _user is null ? Run(program, args) : Run("runuser", ["-u", _user, "--", program, .. args]);

    static async Task Run(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}: {await error}{await output}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try { await As(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"]); }
        finally { try { Directory.Delete(_folder, recursive: true); } catch (IOException) { } }
    }
}

/// <summary>A real Redis server (Debian's redis-server) on a free loopback port, no persistence, stopped on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    readonly Process _process;
    public int Port { get; }
    public string Configuration => $"127.0.0.1:{Port}";

    RedisServer(Process process, int port) => (_process, Port) = (process, port);

    public static string? FindBinary() => new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    public static string? Unavailable() => FindBinary() is null ? "redis-server is not installed (scripts/setup --tests installs Debian's redis-server)." : null;

    public static async Task<RedisServer> StartAsync()
    {
        var port = PostgresServer.FreePort();
        var start = new ProcessStartInfo(FindBinary() ?? throw new InvalidOperationException(Unavailable()))
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Path.GetTempPath() })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) => { if (e.Data?.Contains("Ready to accept connections") == true) ready.TrySetResult(); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (await Task.WhenAny(ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30))) != ready.Task)
        {
            if (!process.HasExited) process.Kill();
            throw new InvalidOperationException($"redis-server did not start on port {port}");
        }
        return new RedisServer(process, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
