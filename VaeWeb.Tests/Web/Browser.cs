using Microsoft.Playwright;

namespace VaeWeb.Tests.Web;

/// <summary>
/// A Chromium for a test class (<see cref="Testing.Chromium"/>), new pages, screenshots in TestResults/screenshots, and
/// the waits for the app's moves between pages.
/// </summary>
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

    /// <summary>
    /// The address (path and query) the page reports once <paramref name="shown"/>, something only the expected page
    /// renders, is on it. The app moves between its pages over the Blazor circuit (NavigationManager, history.pushState),
    /// with no document load; WaitForURLAsync after such a move timed out on loaded machines while the screenshot showed
    /// the page reached (GanPresetsWebTests, 2026-11-28; VaeGanWebTests), so tests wait for what the person sees instead.
    /// Blazor pushes the address before it renders the new page, so once <paramref name="shown"/> is there, so is it.
    /// </summary>
    public static async Task<string> AddressOnceShownAsync(ILocator shown, float? timeout = null)
    {
        await shown.WaitForAsync(new() { Timeout = timeout });
        return await shown.Page.EvaluateAsync<string>("() => location.pathname + location.search");
    }

    /// <summary>
    /// Clicks the new-run form's Start and waits (60 s: the run's training starts on the same loaded cores) for the run
    /// page, judged by its status chip and the address it reports, which must be /runs/{id}; returns the run's id.
    /// </summary>
    public static async Task<long> StartRunAsync(IPage page, VaeWebServer server)
    {
        var name = await page.GetByLabel("Name").InputValueAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
        string address;
        try { address = await AddressOnceShownAsync(page.GetByTestId("run-status"), 60_000); }
        catch (TimeoutException)
        {
            await Screenshot(page, $"failed-start-{(name.Length > 0 ? name.Replace(' ', '-') : "unnamed")}");
            var shown = await page.Locator(".mud-snackbar, [data-testid=form-errors]").AllTextContentsAsync();
            throw new TimeoutException($"Start did not open the run page within 60 s. The form showed: {string.Join(" | ", shown)}{Environment.NewLine}{server.Log}");
        }
        Assert.Matches("^/runs/[0-9]+$", address);
        return long.Parse(address["/runs/".Length..]);
    }

    /// <summary>
    /// Waits until trace <paramref name="trace"/> of the chart with element id <paramref name="chart"/> holds
    /// <paramref name="points"/> points. On a timeout it says what the page held instead — every chart's points per
    /// trace, the run's status and progress — with a screenshot and the server's log, since a count that never comes
    /// has several causes (a point lost, one drawn twice, an update that never reached the page). 60 s: a chart call lost
    /// while the browser's connection was down is given up after 15 s, and the page then reloads its charts from the
    /// stored history (RunDetailPage.PumpAsync; before, such a call held the page's updates for good, ConnectionDropTests).
    /// </summary>
    public static async Task WaitForPointsAsync(IPage page, VaeWebServer server, string chart, int trace, int points, float timeout = 60_000)
    {
        try { await page.WaitForFunctionAsync($"() => document.getElementById('{chart}')?.data?.[{trace}]?.x?.length === {points}", null, new() { Timeout = timeout }); }
        catch (TimeoutException)
        {
            await Screenshot(page, $"failed-points-{chart}");
            var charts = await page.EvaluateAsync<string>(
                "() => [...document.querySelectorAll('.js-plotly-plot')].map(c => `${c.id}: [${(c.data ?? []).map(t => t.x.length)}]`).join('; ')");
            var status = await page.Locator("[data-testid=run-status], [data-testid=run-progress], [data-testid=run-error]").AllTextContentsAsync();
            throw new TimeoutException($"Trace {trace} of chart {chart} did not reach {points} points within {timeout / 1000:0} s. " +
                $"Points per trace: {charts}. The page: {string.Join(" | ", status)}.{Environment.NewLine}The server's log:{Environment.NewLine}{server.Log}");
        }
    }

    public async Task DisposeAsync()
    {
        await Chromium.DisposeAsync();
        _playwright?.Dispose();
    }
}
