using System.Buffers.Binary;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace VaeWeb.Tests.Web;

/// <summary>A small DRAW trained through the web app: its run page, and the explore views its capabilities allow.</summary>
public class DrawWebTests(Browser browser) : IClassFixture<Browser>
{
    const int Steps = 5;

    [Fact]
    public async Task A_draw_run_plays_its_drawing_in_steps_on_its_page_in_explore_and_in_a_shared_gallery()
    {
        await using var server = VaeWebServer.Start();
        using var http = server.CreateClient();
        var created = await http.PostAsJsonAsync("/api/runs", new
        {
            name = "tiny draw",
            config = new { model = "draw", latent = 4, hidden = new[] { 32 }, drawSteps = Steps, readSize = 2, writeSize = 3, epochs = 1, trainLimit = 1000, testLimit = 200 },
        });
        // Once in three full-suite runs this POST answered 500 (2026-11-27, not reproduced alone): say what the server said.
        Assert.True(created.IsSuccessStatusCode, $"POST /api/runs: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}{Environment.NewLine}{server.Log}");
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var run = await server.WaitForRunToFinish(id, TimeSpan.FromMinutes(2));
        Assert.True(run.Status == VaeWeb.Server.Data.RunStatus.Completed, $"{run.Status}: {run.Error}");

        var samples = await http.PostAsJsonAsync($"/api/runs/{id}/explore", new { view = "samples", seed = 2 });
        Assert.Equal(System.Net.HttpStatusCode.OK, samples.StatusCode);
        // No encoder: the views that encode a digit are refused with a reason, not a crash.
        var complete = await http.PostAsJsonAsync($"/api/runs/{id}/explore", new { view = "complete", testIndex = 1 });
        Assert.Equal(System.Net.HttpStatusCode.Conflict, complete.StatusCode);

        // The run, the way a person finds it: the runs list, then its link.
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "tiny draw" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("reconstructions-grid")).ToHaveAttributeAsync("data-drawn", "80");

        // The samples play: the frames change over time, and the write window moves between them.
        var player = page.GetByTestId("samples-animation");
        var frames = await WatchEveryStep(player);
        Assert.Equal(Steps, frames.Values.Select(f => f.Pixels).Distinct().Count());
        Assert.True(frames.Values.Select(f => f.Box).Distinct().Count() > 1, $"the write window stays at {frames[1].Box} in every step ({string.Join("; ", frames.Values.Select(f => f.Raw))})");
        Assert.All(frames.Values, f => Assert.True(f.RedCorner, $"no red box drawn at {f.Box} in step {f.Step}"));
        await Browser.Screenshot(page, "15-draw-run-animation");

        // Paused on the last step with the windows hidden, the frame is the sample grid, pixel for pixel.
        await player.Locator("[data-role=pause]").ClickAsync();
        await player.Locator("[data-role=step]").FillAsync($"{Steps}");
        await player.Locator("[data-role=windows]").UncheckAsync();
        await Assertions.Expect(player).ToHaveAttributeAsync("data-step", $"{Steps}");
        Assert.Equal(await Pixels(page.GetByTestId("samples-grid")), await Pixels(player.Locator("canvas")));
        await Assertions.Expect(player).ToHaveAttributeAsync("data-playing", "0");

        // The reconstructions play too, each read window drawn (green) on the test digit above its canvas.
        var reconstructions = page.GetByTestId("reconstructions-animation");
        await Assertions.Expect(reconstructions).ToHaveAttributeAsync("data-steps", $"{Steps}");
        await Assertions.Expect(reconstructions.Locator("[data-role=legend]")).ToContainTextAsync("where that step read");
        Assert.True(await reconstructions.Locator("canvas").EvaluateAsync<bool>("""
            c => { const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                   for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 150 && d[i] < 100 && d[i + 2] < 150) return true; return false; }
            """), "no green read window on the reconstructions");

        // Explore: samples at a seed and a temperature, and their drawing plays; shared, it plays in a fresh browser.
        await page.GetByTestId("explore-link").ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        Assert.Equal(["Sample"], (await page.GetByRole(AriaRole.Tab).AllTextContentsAsync()).Select(t => t.Trim()));
        await page.GetByLabel("Seed").FillAsync("7");
        await page.GetByLabel("Seed").PressAsync("Tab");
        await Assertions.Expect(page.GetByText("Samples at temperature 1, seed 7")).ToBeVisibleAsync();
        Assert.Equal(Steps, (await WatchEveryStep(page.GetByTestId("explore-animation"))).Count);
        await Browser.Screenshot(page, "14-draw-explore");
        await page.GetByRole(AriaRole.Button, new() { Name = "Share" }).ClickAsync();
        var href = (await page.GetByTestId("gallery-link").GetAttributeAsync("href"))!;

        var stranger = await browser.NewPageAsync();                       // not signed in
        await stranger.GotoAsync(new Uri(server.Address, href).ToString());
        await Assertions.Expect(stranger.GetByTestId("gallery-title")).ToContainTextAsync("seed 7");
        var shared = await WatchEveryStep(stranger.GetByTestId("gallery-animation"));
        Assert.Equal(Steps, shared.Values.Select(f => f.Pixels).Distinct().Count());
        await Browser.Screenshot(stranger, "16-draw-gallery");

        // Its PNG: the final canvases, 10x10, over a strip of one digit's steps (an 11th row).
        using var anonymous = server.CreateAnonymousClient();
        var png = await anonymous.GetByteArrayAsync($"{href}.png");
        Assert.Equal((302, 11 * 30 + 2), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
    }

    sealed record Shown(int Step, string Pixels, string Box, bool RedCorner, string Raw);

    /// <summary>What the player shows at each step while it plays, until every step has been seen (a few rounds at most).</summary>
    static async Task<Dictionary<int, Shown>> WatchEveryStep(ILocator player)
    {
        await Assertions.Expect(player).ToHaveAttributeAsync("data-playing", "1");
        var seen = new Dictionary<int, Shown>();
        await Waits.WaitUntil(async () =>
        {
            var now = await player.EvaluateAsync<JsonElement>("""
                root => { const c = root.querySelector("canvas"), box = root.dataset.writeBox;
                          const [x, y] = box ? box.split(",").map(Number) : [0, 0];
                          const d = c.getContext("2d").getImageData(x, y, 1, 1).data;
                          return { step: Number(root.dataset.step), pixels: c.toDataURL(), box, red: d[0] > 200 && d[1] < 100,
                                   raw: String(root.vaewebPlayer.a.writes?.slice(4 * 100 * (root.dataset.step - 1), 4 * 100 * (root.dataset.step - 1) + 4)) }; }
                """);
            var step = now.GetProperty("step").GetInt32();
            seen[step] = new Shown(step, now.GetProperty("pixels").GetString()!, now.GetProperty("box").GetString()!, now.GetProperty("red").GetBoolean(), now.GetProperty("raw").GetString()!);
            return seen.Count == Steps;
        }, TimeSpan.FromSeconds(20), () => $"every step shown (saw steps {string.Join(", ", seen.Keys.Order())})", TimeSpan.FromMilliseconds(20));
        return seen;
    }

    static Task<string> Pixels(ILocator canvas) => canvas.EvaluateAsync<string>("c => c.toDataURL()");
}
