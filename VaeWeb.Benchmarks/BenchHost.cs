using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

/// <summary>What both benchmarks start: the real app on a loopback port with a throw-away database, and Chromium.</summary>
static class BenchHost
{
    /// <summary>The app (embedded worker on) and its address. Any type of the server's assembly names the app to start.</summary>
    public static (WebApplicationFactory<VaeWeb.Server.DataFolder> App, Uri Address) StartServer(string prefix)
    {
        var folder = Directory.CreateTempSubdirectory(prefix).FullName;
        var app = new WebApplicationFactory<VaeWeb.Server.DataFolder>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Engine:Database", Path.Combine(folder, "bench.db"));
            web.UseSetting("Engine:RunsDirectory", Path.Combine(folder, "runs"));
            web.UseSetting("Logging:LogLevel:Default", "Warning");
        });
        app.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        app.StartServer();
        return (app, new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()));
    }

    /// <summary>Debian's Chromium, headless, with the flags that keep its blocked background traffic quiet.</summary>
    public static Task<IBrowser> LaunchChromium(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new()
    {
        ExecutablePath = "/usr/bin/chromium",
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}
