using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace VaeWeb.Tests.Web;

/// <summary>A small DRAW trained through the web app: its run page, and the explore views its capabilities allow.</summary>
public class DrawWebTests(Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_draw_run_trains_from_the_api_and_its_explore_page_offers_only_what_draw_can_do()
    {
        await using var server = VaeWebServer.Start();
        using var http = server.CreateClient();
        var created = await http.PostAsJsonAsync("/api/runs", new
        {
            name = "tiny draw",
            config = new { model = "draw", latent = 4, hidden = new[] { 32 }, drawSteps = 4, readSize = 2, writeSize = 3, epochs = 1, trainLimit = 1000, testLimit = 200 },
        });
        created.EnsureSuccessStatusCode();
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var run = await server.WaitForRunToFinish(id, TimeSpan.FromMinutes(2));
        Assert.True(run.Status == VaeWeb.Server.Data.RunStatus.Completed, $"{run.Status}: {run.Error}");

        var samples = await http.PostAsJsonAsync($"/api/runs/{id}/explore", new { view = "samples", seed = 2 });
        Assert.Equal(System.Net.HttpStatusCode.OK, samples.StatusCode);
        // No encoder: the views that encode a digit are refused with a reason, not a crash.
        var complete = await http.PostAsJsonAsync($"/api/runs/{id}/explore", new { view = "complete", testIndex = 1 });
        Assert.Equal(System.Net.HttpStatusCode.Conflict, complete.StatusCode);

        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(new Uri(server.Address, $"/runs/{id}").ToString());
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("reconstructions-grid")).ToHaveAttributeAsync("data-drawn", "80");
        await page.GetByTestId("explore-link").ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        Assert.Equal(["Sample"], (await page.GetByRole(AriaRole.Tab).AllTextContentsAsync()).Select(t => t.Trim()));
        await Browser.Screenshot(page, "14-draw-explore");
    }
}
