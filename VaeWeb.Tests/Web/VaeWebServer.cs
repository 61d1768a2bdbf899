using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace VaeWeb.Tests.Web;

/// <summary>
/// The real app on a real Kestrel port of 127.0.0.1, with a throw-away database and run folder (datasets come from
/// the repository's data/ folder, fetched once). Restart it on the same database to test what survives a restart.
/// </summary>
public sealed class VaeWebServer : IAsyncDisposable
{
    public const string Token = "test-worker-token";
    readonly WebApplicationFactory<Program> _factory;

    public Uri Address { get; }
    public string Database { get; }
    public IServiceProvider Services => _factory.Services;

    VaeWebServer(string database, bool embeddedWorker)
    {
        Database = database;
        var runs = Path.Combine(Path.GetDirectoryName(database)!, "runs");
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Engine:Database", database);
            web.UseSetting("Engine:RunsDirectory", runs);
            web.UseSetting("Engine:WorkerToken", Token);
            web.UseSetting("Engine:EmbeddedWorker", embeddedWorker.ToString());
        });
        _factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        _factory.StartServer();
        Address = new Uri(_factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    /// <summary>A fresh app with a new database; <paramref name="embeddedWorker"/> false leaves training to test workers.</summary>
    public static VaeWebServer Start(bool embeddedWorker = true) =>
        new(Path.Combine(Directory.CreateTempSubdirectory("vaeweb-web-").FullName, "vaeweb.db"), embeddedWorker);

    /// <summary>A new app process-equivalent on the same database, as after a server restart.</summary>
    public static VaeWebServer Restart(string database, bool embeddedWorker = true) => new(database, embeddedWorker);

    public HttpClient CreateClient() => new() { BaseAddress = Address };

    public async ValueTask DisposeAsync() => await _factory.DisposeAsync();
}
