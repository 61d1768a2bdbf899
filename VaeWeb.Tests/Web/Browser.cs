using Microsoft.Playwright;

namespace VaeWeb.Tests.Web;

/// <summary>Debian's Chromium driven by Playwright; nothing is downloaded. Screenshots go to TestResults/screenshots.</summary>
public sealed class Browser : IAsyncLifetime
{
    IPlaywright? _playwright;
    public IBrowser Chromium { get; private set; } = null!;

    public static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Chromium is not installed: run scripts/setup --tests (apt-get install chromium).");
        _playwright = await Playwright.CreateAsync();
        Chromium = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            // Without these, Chromium's blocked background connections flood the logs on a closed network.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
        });
        Directory.CreateDirectory(Screenshots);
    }

    public async Task<IPage> NewPageAsync()
    {
        var context = await Chromium.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        return await context.NewPageAsync();
    }

    public static Task Screenshot(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    public async Task DisposeAsync()
    {
        await Chromium.DisposeAsync();
        _playwright?.Dispose();
    }
}
