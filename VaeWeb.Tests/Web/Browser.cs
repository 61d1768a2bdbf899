using Microsoft.Playwright;

namespace VaeWeb.Tests.Web;

/// <summary>A Chromium for a test class (<see cref="Testing.Chromium"/>), new pages, and screenshots in TestResults/screenshots.</summary>
public sealed class Browser : IAsyncLifetime
{
    IPlaywright? _playwright;
    public IBrowser Chromium { get; private set; } = null!;

    public static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    public async Task InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        Chromium = await Testing.Chromium.LaunchAsync(_playwright);
        Directory.CreateDirectory(Screenshots);
    }

    /// <summary>A page in a new browser context, signed in to <paramref name="signedInTo"/> (null: anonymous, as anyone on the network).</summary>
    public async Task<IPage> NewPageAsync(VaeWebServer? signedInTo = null)
    {
        var context = await Chromium.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        return signedInTo is null ? page : await signedInTo.SignInAsync(page);
    }

    public static Task Screenshot(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    public async Task DisposeAsync()
    {
        await Chromium.DisposeAsync();
        _playwright?.Dispose();
    }
}
