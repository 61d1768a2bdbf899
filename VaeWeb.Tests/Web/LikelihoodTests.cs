using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Runs;
using VaeWeb.Testing;

namespace VaeWeb.Tests.Web;

/// <summary>The importance-weighted estimate beside the test bound, on demand for a finished run: API and run page.</summary>
public class LikelihoodTests(Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_finished_vae_gets_an_estimate_above_its_bound_from_the_api_and_from_its_run_page()
    {
        await using var app = VaeWebServer.Start();
        var run = await app.Services.GetRequiredService<RunService>().SubmitAsync(new RunConfig { Epochs = 1, TrainLimit = 3000, TestLimit = 200, Hidden = [128], Latent = 16 }, "likely vae");
        await app.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));

        using var http = app.CreateClient();
        var response = await http.PostAsJsonAsync($"/api/runs/{run.Id}/likelihood", new { k = 50, images = 300 });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var estimate = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("log p(x)", estimate.GetProperty("of").GetString());
        double iw = estimate.GetProperty("estimate").GetDouble(), bound = estimate.GetProperty("bound").GetDouble();
        Assert.True(iw > bound, $"IW estimate {iw:F2} vs bound {bound:F2}: 50 samples tighten the bound");
        Assert.InRange(iw, -250, -70);

        var tooMany = await http.PostAsJsonAsync($"/api/runs/{run.Id}/likelihood", new { k = 1000, images = 10000 });
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("k × test images is at most 1,000,000", await tooMany.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.CreateAnonymousClient().PostAsJsonAsync($"/api/runs/{run.Id}/likelihood", new { k = 1, images = 10 })).StatusCode);

        // As a person: home → the run → Estimate (k = 100 on 1,000 test images by default).
        var page = await browser.NewPageAsync(app);
        await page.GotoAsync(app.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "likely vae" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Estimate" }).ClickAsync();
        var shown = page.GetByTestId("likelihood-estimate").Filter(new() { HasText = "k = 100" });
        await Assertions.Expect(shown).ToContainTextAsync("IW estimate of log p(x), k = 100", new() { Timeout = 60_000 });
        await Assertions.Expect(shown).ToContainTextAsync("1,000 test images");
        await Assertions.Expect(shown).ToContainTextAsync("test bound (ELBO)");
        // The API's estimate is remembered for the run too.
        await Assertions.Expect(page.GetByTestId("likelihood-estimate").Filter(new() { HasText = "k = 50" })).ToContainTextAsync($"{iw:F2} nats");
        await Browser.Screenshot(page, "likelihood");
    }
}
