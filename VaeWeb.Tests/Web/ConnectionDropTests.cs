using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>
/// A run page whose connection to the server drops mid-run, as on a flaky network or a machine so loaded that the
/// browser misses SignalR's keep-alives: Blazor reconnects to the same circuit, and the charts must end as the stored
/// history, each point once.
/// </summary>
public class ConnectionDropTests(Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_run_page_whose_connection_drops_mid_run_ends_with_every_stored_point_once()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "New run" }).First.ClickAsync();
        await page.GetByLabel("Name").FillAsync("e2e connection drop");
        await page.GetByLabel("Epochs").FillAsync("6");                   // ≈ 25 s alone: still training when the connection drops
        await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
        await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("30000");
        await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("1000");
        var runId = await Browser.StartRunAsync(page, server);
        await EndToEndTests.WaitForPointsAsync(page, runId, n => n > 0, "the first loss point");

        // Blazor's own test hook (ASP.NET Core's E2E tests use it) closes the circuit's connection; Blazor reconnects by
        // itself. A chart call sent while it was down is lost: before the page gave such calls up, 3 of 7 runs with two
        // drops froze the page for good (the status never turned "completed"), and 3 of 3 with five, so it drops five times.
        for (int drop = 0; drop < 5; drop++)
        {
            await page.EvaluateAsync("() => Blazor._internal.forceCloseConnection()");
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 180_000 });

        var history = (await server.Services.GetRequiredService<RunService>().HistoryAsync(runId))!;
        int stored = history.Metrics.Count(m => m.Scope == "step" && m.Name == Metrics.Elbo);
        Assert.Equal(6, history.Metrics.Count(m => m.Scope == "test" && m.Name == Metrics.Elbo));
        await Browser.WaitForPointsAsync(page, server, $"elbo-{runId}", trace: 0, points: stored);         // train ELBO per step
        await Browser.WaitForPointsAsync(page, server, $"elbo-{runId}", trace: 2, points: 6);              // test ELBO per epoch
        await EndToEndTests.AssertNoStepTwice(page, runId, "after the connection dropped");
    }
}
