using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Testing;

/// <summary>
/// The real app on a real Kestrel port of 127.0.0.1, with a throw-away database and run folder (datasets come from
/// the repository's data/ folder, or VAEWEB_DATA, fetched once). Restart it on the same database to test what survives
/// a restart. Every server has the access token <see cref="AccessToken"/>: <see cref="CreateClient"/> sends it,
/// <see cref="SignInAsync"/> signs a browser page in through the sign-in URL.
/// </summary>
public sealed class VaeWebServer : IAsyncDisposable
{
    public const string Token = "test-worker-token";
    /// <summary>The token that signs browsers and scripts in (Auth:Token).</summary>
    public const string AccessToken = "test-access-token";
    /// <summary>Settings that keep the app's log to warnings and errors (benchmarks: no per-request lines).</summary>
    public static readonly IReadOnlyDictionary<string, string> WarningsOnly = new Dictionary<string, string> { ["Logging:LogLevel:Default"] = "Warning" };
    /// <summary>For benchmarks: warnings only, and rate limits far above what they send (they measure latency, not the limiter).</summary>
    public static readonly IReadOnlyDictionary<string, string> ForBenchmarks = new Dictionary<string, string>(WarningsOnly)
    {
        ["RateLimits:ModelRequests:TokenLimit"] = "100000", ["RateLimits:ModelRequests:TokensPerPeriod"] = "100000",
        ["RateLimits:RunSubmissions:PermitLimit"] = "100000",
    };
    readonly WebApplicationFactory<Program> _factory;

    public Uri Address { get; }
    public string Database { get; }
    public IServiceProvider Services => _factory.Services;
    /// <summary>What the server logged at Warning and above, and whether its host stopped before the test disposed it.</summary>
    public ServerLog Log { get; } = new();
    bool _disposing;

    VaeWebServer(string database, bool embeddedWorker, IReadOnlyDictionary<string, string>? settings, Action<IServiceCollection>? services = null, string? runs = null)
    {
        Database = database;
        runs ??= Path.Combine(Path.GetDirectoryName(database)!, "runs");
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Engine:Database", database);
            web.UseSetting("Engine:RunsDirectory", runs);
            web.UseSetting("Engine:WorkerToken", Token);
            web.UseSetting("Auth:Token", AccessToken);
            web.UseSetting("Engine:EmbeddedWorker", embeddedWorker.ToString());
            foreach (var (key, value) in settings ?? new Dictionary<string, string>()) web.UseSetting(key, value);
            web.ConfigureLogging(logging => logging.AddProvider(Log));
            if (services is not null) web.ConfigureTestServices(services);
        });
        _factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        _factory.StartServer();
        Address = new Uri(_factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        _factory.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() =>
        {
            if (!_disposing) Log.Add($"the host is stopping before the test disposed the server:{Environment.NewLine}{Environment.StackTrace}");
        });
    }

    /// <summary>
    /// A fresh app with a new database in a new temporary folder named <paramref name="prefix"/>…;
    /// <paramref name="embeddedWorker"/> false leaves training to test workers; <paramref name="settings"/> are more
    /// configuration keys (e.g. "Logging:LogLevel:Default"); <paramref name="services"/> registers services after the
    /// app's, replacing them (e.g. the SVHN files the Data page accepts).
    /// </summary>
    public static VaeWebServer Start(bool embeddedWorker = true, string prefix = "vaeweb-web-", IReadOnlyDictionary<string, string>? settings = null,
        Action<IServiceCollection>? services = null) =>
        new(Path.Combine(TempFolders.Create(prefix).FullName, "vaeweb.db"), embeddedWorker, settings, services);

    /// <summary>
    /// One replica of a cluster: the app on a shared database (a PostgreSQL connection string), with no embedded worker,
    /// and <paramref name="settings"/> such as Engine:Redis.
    /// </summary>
    public static VaeWebServer StartReplica(string database, IReadOnlyDictionary<string, string>? settings = null) =>
        new(database, embeddedWorker: false, settings, runs: Path.Combine(TempFolders.Create("vaeweb-replica-").FullName, "runs"));

    /// <summary>A new app process-equivalent on an existing database, as after a server restart or an upgrade.</summary>
    public static VaeWebServer Restart(string database, bool embeddedWorker = true, IReadOnlyDictionary<string, string>? settings = null) =>
        new(database, embeddedWorker, settings);

    /// <summary>An HTTP client signed in as a script is: "Authorization: Bearer" with the access token.</summary>
    public HttpClient CreateClient()
    {
        var client = CreateAnonymousClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", AccessToken);
        return client;
    }

    /// <summary>A connection to the runs hub (not yet started), signed in with the bearer token unless <paramref name="anonymous"/>.</summary>
    public HubConnection RunsHubConnection(bool anonymous = false) =>
        new HubConnectionBuilder()
            .WithUrl(new Uri(Address, RunsHub.Path), o => { if (!anonymous) o.AccessTokenProvider = () => Task.FromResult<string?>(AccessToken); })
            .Build();

    /// <summary>An HTTP client with no credentials, as anyone on the network.</summary>
    public HttpClient CreateAnonymousClient() => new() { BaseAddress = Address };

    /// <summary>The URL the server prints on start: opening it signs a browser in.</summary>
    public Uri SignInUrl => new(Address, $"/signin?token={AccessToken}");

    /// <summary>Signs <paramref name="page"/>'s browser context in by opening the sign-in URL, as a user does (the cookie then serves every page of the context).</summary>
    public async Task<IPage> SignInAsync(IPage page)
    {
        await page.GotoAsync($"{SignInUrl}&returnUrl=/signin");
        await page.GetByTestId("signin-done").WaitForAsync();
        return page;
    }

    /// <summary>Waits until run <paramref name="runId"/> satisfies <paramref name="condition"/>; throws naming <paramref name="what"/> on timeout.</summary>
    public async Task<Run> WaitForRun(long runId, Func<Run, bool> condition, TimeSpan timeout, string what, TimeSpan? pollInterval = null)
    {
        var runs = Services.GetRequiredService<RunService>();
        Run? run = null;
        try
        {
            await Waits.WaitUntil(async () => (run = await runs.FindAsync(runId)) is { } r && condition(r), timeout,
                () => $"{what} (run {runId} is {run?.Status.ToString() ?? "missing"})", pollInterval);
        }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}{Environment.NewLine}The server's log:{Environment.NewLine}{Log}", e); }
        catch (ObjectDisposedException e)
        {
            throw new InvalidOperationException($"The server stopped while the test waited until {what}.{Environment.NewLine}The server's log:{Environment.NewLine}{Log}", e);
        }
        return run!;
    }

    /// <summary>Waits until run <paramref name="runId"/> has finished (completed, failed, cancelled or interrupted).</summary>
    public Task<Run> WaitForRunToFinish(long runId, TimeSpan timeout) =>
        WaitForRun(runId, r => r.Status is not (RunStatus.Queued or RunStatus.Running), timeout, $"run {runId} finishes");

    public async ValueTask DisposeAsync()
    {
        _disposing = true;
        await _factory.DisposeAsync();
    }
}
