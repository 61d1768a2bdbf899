using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>The app with one small semi-supervised run trained to completion by its embedded worker.</summary>
public sealed class ServerWithTrainedM2 : IAsyncLifetime
{
    public VaeWebServer Server { get; private set; } = null!;
    public long RunId { get; private set; }
    public long VaeRunId { get; private set; }

    public async Task InitializeAsync()
    {
        Server = VaeWebServer.Start();
        var runs = Server.Services.GetRequiredService<RunService>();
        var m2 = await runs.SubmitAsync(new RunConfig
        {
            Model = ModelKind.M2, Labels = 0, Alpha = 20, Epochs = 1, TrainLimit = 6000, TestLimit = 500, Latent = 8, Hidden = [128, 128],
        }, "explore m2");
        var vae = await runs.SubmitAsync(new RunConfig { Epochs = 1, TrainLimit = 2000, TestLimit = 200, Hidden = [100], Latent = 2 }, "explore vae");
        (RunId, VaeRunId) = (m2.Id, vae.Id);
        // One worker trains them in turn: the second finishing means both have.
        Assert.Equal(RunStatus.Completed, (await Server.WaitForRunToFinish(vae.Id, TimeSpan.FromMinutes(2))).Status);
        Assert.Equal(RunStatus.Completed, (await runs.FindAsync(m2.Id))!.Status);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public class ExploreTests(ServerWithTrainedM2 app, Browser browser) : IClassFixture<ServerWithTrainedM2>, IClassFixture<Browser>
{
    async Task<IPage> OpenExplorePage()
    {
        var page = await browser.NewPageAsync(app.Server);
        await page.GotoAsync(new Uri(app.Server.Address, $"/runs/{app.RunId}/explore").ToString());
        return page;
    }

    /// <summary>One pointer stroke on a canvas through <paramref name="points"/> (CSS pixels from its top left corner).</summary>
    static async Task Stroke(IPage page, ILocator canvas, params (float X, float Y)[] points)
    {
        var box = (await canvas.BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + points[0].X, box.Y + points[0].Y);
        await page.Mouse.DownAsync();
        foreach (var (x, y) in points.Skip(1)) await page.Mouse.MoveAsync(box.X + x, box.Y + y, new() { Steps = 10 });
        await page.Mouse.UpAsync();
    }

    [Fact]
    public async Task Drawing_a_digit_with_pointer_strokes_shows_class_probabilities_and_what_the_model_saw()
    {
        var page = await OpenExplorePage();
        await page.GetByRole(AriaRole.Tab, new() { Name = "Draw" }).ClickAsync();
        var pad = page.GetByTestId("draw-pad");
        await pad.WaitForAsync();
        await page.WaitForFunctionAsync("() => document.getElementById('draw-pad')?.dataset.attached === '1'");
        // A "7": a bar across the top, then a stroke down to the lower left.
        await Stroke(page, pad, (70, 60), (210, 60), (120, 230));

        var predicted = page.GetByTestId("draw-predicted");
        await Assertions.Expect(predicted).ToHaveAttributeAsync("data-predicted", new System.Text.RegularExpressions.Regex("^[0-9]$"));
        Assert.Equal(1.0, double.Parse((await predicted.GetAttributeAsync("data-probability-sum"))!, System.Globalization.CultureInfo.InvariantCulture), 3);
        var bars = await page.EvaluateAsync<double[]>($"() => document.getElementById('probabilities-{app.RunId}').data[0].y");
        Assert.Equal(10, bars.Length);
        await Assertions.Expect(page.GetByTestId("draw-input")).ToHaveAttributeAsync("data-drawn", "1");
        await Assertions.Expect(page.GetByTestId("draw-latency")).ToContainTextAsync("round trip");
        await Browser.Screenshot(page, "10-draw");

        // The drawing, shared: a gallery titled with the same answer.
        await page.GetByRole(AriaRole.Button, new() { Name = "Share" }).Last.ClickAsync();
        var href = (await page.GetByTestId("gallery-link").GetAttributeAsync("href"))!;
        var gallery = await browser.NewPageAsync();
        await gallery.GotoAsync(new Uri(app.Server.Address, href).ToString());
        await Assertions.Expect(gallery.GetByTestId("gallery-title")).ToContainTextAsync($"A drawn digit classified as {await predicted.GetAttributeAsync("data-predicted")}");
    }

    /// <summary>
    /// The walk that failed 4 times in 10 (issue 9): home page → the run → Explore → Draw → a drawing, in a new browser
    /// context each time, so plotly.js loads afresh as for a new visitor. Ten walks miss a 40% failure with
    /// probability 0.6^10 < 1%. Each walk draws twice: once broken, the pad never answered again until a reload.
    /// </summary>
    [Fact]
    public async Task Ten_fresh_walks_from_the_home_page_to_a_drawing_all_get_a_prediction()
    {
        for (int walk = 1; walk <= 10; walk++)
        {
            var context = await browser.Chromium.NewContextAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
            var page = await app.Server.SignInAsync(await context.NewPageAsync());
            var errors = new List<string>();
            page.PageError += (_, e) => errors.Add(e);
            page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource")) errors.Add(m.Text); };
            page.Response += (_, r) => { if (r.Status >= 400) errors.Add($"{r.Status} {r.Url}"); };

            await page.GotoAsync(app.Server.Address.ToString());
            await page.GetByRole(AriaRole.Link, new() { Name = "explore m2" }).ClickAsync();
            await page.GetByTestId("explore-link").ClickAsync();
            await page.GetByRole(AriaRole.Tab, new() { Name = "Draw" }).ClickAsync();
            await page.WaitForFunctionAsync("() => document.getElementById('draw-pad')?.dataset.attached === '1'");
            var box = (await page.GetByTestId("draw-pad").BoundingBoxAsync())!;
            var predicted = page.GetByTestId("draw-predicted");
            foreach (var (x0, x1) in new[] { (140f, 140f), (80f, 200f) })       // a "1", then (after Clear) a bar
            {
                await page.Mouse.MoveAsync(box.X + x0, box.Y + 50);
                await page.Mouse.DownAsync();
                await page.Mouse.MoveAsync(box.X + x1, box.Y + 230, new() { Steps = 12 });
                await page.Mouse.UpAsync();
                await Assertions.Expect(predicted).ToHaveAttributeAsync("data-predicted", new System.Text.RegularExpressions.Regex("^[0-9]$"),
                    new() { Timeout = 15_000 });
                var bars = await page.EvaluateAsync<double[]>($"() => document.getElementById('probabilities-{app.RunId}').data[0].y");
                Assert.Equal(1.0, bars.Sum(), 3);                              // the chart shows this drawing's probabilities
                await page.EvaluateAsync("() => document.querySelector('[data-testid=draw-predicted]').removeAttribute('data-predicted')");
                await page.GetByRole(AriaRole.Button, new() { Name = "Clear" }).ClickAsync();
            }
            Assert.True(errors.Count == 0, $"walk {walk}: the page reported errors: {string.Join(" | ", errors)}");
            await context.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_half_erased_test_digit_is_completed_and_shared_as_a_gallery_that_opens_in_a_fresh_browser()
    {
        var page = await OpenExplorePage();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Complete" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Complete", Exact = true }).ClickAsync();
        var completions = page.GetByTestId("explore-complete");
        await Assertions.Expect(completions).ToHaveAttributeAsync("data-drawn", "8");     // original, masked, six completions
        await Browser.Screenshot(page, "11-complete");

        await page.GetByRole(AriaRole.Button, new() { Name = "Share" }).Nth(0).ClickAsync();
        var link = page.GetByTestId("gallery-link");
        await link.WaitForAsync();
        var href = (await link.GetAttributeAsync("href"))!;
        Assert.Matches("^/g/[2-9a-zA-Z]{12}$", href);

        // Someone else opens the link: a new browser context, no circuit, the images and their provenance.
        var context = await browser.Chromium.NewContextAsync();
        var other = await context.NewPageAsync();
        var response = await other.GotoAsync(new Uri(app.Server.Address, href).ToString());
        Assert.Equal(200, response!.Status);
        await Assertions.Expect(other.GetByTestId("gallery-title")).ToContainTextAsync("Completions of test digit 0 with the bottom erased");
        Assert.True(await other.EvaluateAsync<bool>("() => { const i = document.querySelector('[data-testid=gallery-image]'); return i.complete && i.naturalWidth > 0; }"));
        var html = await other.ContentAsync();
        Assert.Contains("property=\"og:image\"", html);
        Assert.Contains($"{href}.png", html);
        await Assertions.Expect(other.GetByTestId("provenance")).ToContainTextAsync("epoch 1");
        // Only what made the images: a completion's region, count and seed; not a sample grid's temperature.
        var provenance = await other.GetByTestId("provenance").InnerTextAsync();
        Assert.Contains("bottom half", provenance);
        Assert.DoesNotContain("temperature", provenance);
        Assert.DoesNotContain("spherical", provenance);
        // They may look, not run the model or delete: those are the signed-in owner's.
        await Assertions.Expect(other.GetByRole(AriaRole.Button, new() { Name = "Regenerate from provenance" })).ToHaveCountAsync(0);
        await Assertions.Expect(other.GetByRole(AriaRole.Button, new() { Name = "Delete gallery" })).ToHaveCountAsync(0);
        await Browser.Screenshot(other, "12-gallery");
        await app.Server.SignInAsync(other);
        await other.GotoAsync(new Uri(app.Server.Address, href).ToString());
        await other.GetByRole(AriaRole.Button, new() { Name = "Regenerate from provenance" }).ClickAsync();
        await Assertions.Expect(other.GetByTestId("regeneration")).ToContainTextAsync("identical");
        await context.DisposeAsync();
    }

    [Fact]
    public async Task A_drawing_is_restyled_a_brushed_region_completed_and_each_tab_keeps_its_settings()
    {
        var page = await OpenExplorePage();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Draw" }).ClickAsync();
        await page.WaitForFunctionAsync("() => document.getElementById('draw-pad')?.dataset.attached === '1'");
        await page.WaitForFunctionAsync($"() => document.getElementById('probabilities-{app.RunId}')?._fullData?.length === 1");   // plotly.js has drawn the bars
        await Stroke(page, page.GetByTestId("draw-pad"), (140, 50), (140, 230));                       // a "1"
        await Assertions.Expect(page.GetByTestId("draw-predicted")).ToHaveAttributeAsync("data-predicted", new System.Text.RegularExpressions.Regex("^[0-9]$"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Use in restyle / complete" }).ClickAsync();

        // Restyle: the drawing, in all ten classes.
        await page.GetByRole(AriaRole.Tab, new() { Name = "Restyle" }).ClickAsync();
        await Assertions.Expect(page.GetByText("using your drawing")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Restyle", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-restyle")).ToHaveAttributeAsync("data-drawn", "11");

        // Complete with a brush: the eraser shows the digit; Complete without painting asks for it, then completes.
        await page.GetByRole(AriaRole.Tab, new() { Name = "Complete" }).ClickAsync();
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Erase" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "with a brush" }).ClickAsync();
        await page.WaitForFunctionAsync("() => document.getElementById('eraser')?.vaewebMask !== undefined");
        await page.GetByRole(AriaRole.Button, new() { Name = "Complete", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-error")).ToContainTextAsync("Paint over part of the digit");
        await Stroke(page, page.GetByTestId("eraser"), (112, 112), (112, 180));
        await page.GetByRole(AriaRole.Button, new() { Name = "Complete", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-complete")).ToHaveAttributeAsync("data-drawn", "8");
        await Assertions.Expect(page.GetByTestId("explore-error")).ToHaveCountAsync(0);

        // Back and forth: the tabs keep their results and settings.
        await page.GetByRole(AriaRole.Tab, new() { Name = "Restyle" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-restyle")).ToHaveAttributeAsync("data-drawn", "11");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Complete" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("eraser")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("explore-complete")).ToHaveAttributeAsync("data-drawn", "8");
    }

    [Fact]
    public async Task Samples_are_reproducible_from_their_seed_and_a_gallery_regenerates_exactly()
    {
        using var http = app.Server.CreateClient();
        var request = new { view = "samples", temperature = 0.7, seed = 99 };
        var first = await (await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", request)).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", request)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(first.GetProperty("pixels").GetString(), second.GetProperty("pixels").GetString());
        Assert.Equal(10, first.GetProperty("rows").GetInt32());

        var created = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/galleries", new { view = "restyle", testIndex = 7 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var regenerated = await (await http.PostAsync($"/api/galleries/{id}/regenerate", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(regenerated.GetProperty("identical").GetBoolean(), regenerated.ToString());
        var gallery = await http.GetFromJsonAsync<JsonElement>($"/api/galleries/{id}");
        Assert.Equal((1, 11, 28, 28), (gallery.GetProperty("rows").GetInt32(), gallery.GetProperty("cols").GetInt32(),
            gallery.GetProperty("height").GetInt32(), gallery.GetProperty("width").GetInt32()));
        Assert.Equal(7, gallery.GetProperty("request").GetProperty("testIndex").GetInt32());
        Assert.False(gallery.TryGetProperty("requestJson", out _));                         // a DTO, not the stored entity
        var png = await http.GetAsync($"/g/{id}.png?download=1");
        Assert.Equal("image/png", png.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment", png.Content.Headers.ContentDisposition!.DispositionType);
    }

    [Fact]
    public async Task The_latent_map_is_a_webgl_scatter_of_test_digits_and_clicking_a_point_shows_its_digit()
    {
        var page = await OpenExplorePage();
        await page.GetByRole(AriaRole.Tab, new() { Name = "Latent space" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Map 2,000 test digits" }).ClickAsync();
        var chart = $"document.getElementById('latent-{app.RunId}')";
        await page.WaitForFunctionAsync($"() => {chart}?._fullData?.length === 10");
        Assert.Equal(["scattergl"], await page.EvaluateAsync<string[]>($"() => [...new Set({chart}._fullData.map(t => t.type))]"));
        // The first 2,000 of the 10,000 test digits, each once.
        Assert.Equal(2000, await page.EvaluateAsync<int>($"() => {chart}.data.reduce((n, t) => n + t.x.length, 0)"));

        // Click the first point of the trace for digit 0, where Plotly drew it, once the page says clicks are taken: the
        // chart is drawn before its click handler is subscribed, and a click in between showed nothing (1 failure in a
        // fresh-clone suite run).
        await Assertions.Expect(page.GetByTestId("latent-clicks-ready")).ToBeVisibleAsync();
        var at = await page.EvaluateAsync<double[]>($$"""
            () => {
              const gd = {{chart}}, L = gd._fullLayout, box = gd.getBoundingClientRect();
              const t = gd.data[0];
              return [box.left + L._size.l + L.xaxis.l2p(t.x[0]), box.top + L._size.t + L.yaxis.l2p(t.y[0])];
            }
            """);
        await page.Mouse.MoveAsync((float)at[0], (float)at[1]);
        await page.Mouse.ClickAsync((float)at[0], (float)at[1]);
        await Assertions.Expect(page.GetByTestId("latent-clicked")).ToHaveAttributeAsync("data-drawn", "2");
        await Browser.Screenshot(page, "13-latent-map");
    }

    [Fact]
    public async Task A_2d_vae_draws_its_manifold_and_brushed_regions_are_completed()
    {
        using var http = app.Server.CreateClient();
        var manifold = await http.PostAsJsonAsync($"/api/runs/{app.VaeRunId}/explore", new { view = "manifold", steps = 5 });
        var grid = await manifold.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((5, 5), (grid.GetProperty("rows").GetInt32(), grid.GetProperty("cols").GetInt32()));
        var notTwoD = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "manifold", steps = 5, label = 3 });
        Assert.Equal(HttpStatusCode.Conflict, notTwoD.StatusCode);
        Assert.Contains("2-D latents", await notTwoD.Content.ReadAsStringAsync());

        // A brushed square in the middle of test digit 4: only those pixels change.
        var mask = new byte[784];
        for (int y = 10; y < 18; y++) for (int x = 10; x < 18; x++) mask[y * 28 + x] = 1;
        var completed = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "complete", testIndex = 4, region = "mask", mask, count = 2 });
        var pixels = (await completed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("pixels").GetBytesFromBase64();
        for (int i = 0; i < 784; i++)
            if (mask[i] == 0) Assert.Equal(pixels[i], pixels[2 * 784 + i]);
        // Sampling the missing pixels (the pseudo-Gibbs chain itself): the erased half is black or white, the rest kept.
        var sampled = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "complete", testIndex = 4, region = "bottom", count = 3, sampleMissing = true });
        var sampledPixels = (await sampled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("pixels").GetBytesFromBase64();
        for (int c = 2; c < 5; c++)
            for (int i = 0; i < 784; i++)
                if (i / 28 >= 14) Assert.True(sampledPixels[c * 784 + i] is 0 or 255, $"completion {c - 1}, pixel {i}: {sampledPixels[c * 784 + i]}");
                else Assert.Equal(sampledPixels[i], sampledPixels[c * 784 + i]);
        var noMask = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "complete", testIndex = 4, region = "mask" });
        Assert.Equal(HttpStatusCode.BadRequest, noMask.StatusCode);
    }

    [Fact]
    public async Task Bad_drawings_unknown_runs_and_unknown_galleries_get_clear_client_errors()
    {
        using var http = app.Server.CreateClient();
        async Task<(HttpStatusCode Status, string Detail)> Classify(long run, string body)
        {
            var response = await http.PostAsync($"/api/runs/{run}/classify", new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text);
        }

        var notJson = await Classify(app.RunId, "{\"width\": 28, \"height\": 28, \"pixels\": [0, 1,");
        Assert.Equal(HttpStatusCode.BadRequest, notJson.Status);
        Assert.Contains("not valid JSON", notJson.Detail);
        var nonNumeric = await Classify(app.RunId, "{\"width\": 28, \"height\": 28, \"pixels\": [\"ink\"]}");
        Assert.Equal(HttpStatusCode.BadRequest, nonNumeric.Status);
        var wrongCount = await Classify(app.RunId, JsonSerializer.Serialize(new { width = 28, height = 28, pixels = new float[10] }));
        Assert.Equal(HttpStatusCode.BadRequest, wrongCount.Status);
        Assert.Contains("784 pixels", wrongCount.Detail);
        var outOfRange = await Classify(app.RunId, JsonSerializer.Serialize(new { width = 28, height = 28, pixels = Enumerable.Repeat(7f, 784) }));
        Assert.Contains("between 0 and 1", outOfRange.Detail);
        var huge = await Classify(app.RunId, JsonSerializer.Serialize(new { width = 5000, height = 5000, pixels = new float[1] }));
        Assert.Equal(HttpStatusCode.BadRequest, huge.Status);
        Assert.Contains("1024x1024", huge.Detail);
        var oversized = await http.PostAsync($"/api/runs/{app.RunId}/classify", new ByteArrayContent(new byte[17 * 1024 * 1024]) { Headers = { ContentType = new("application/json") } });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversized.StatusCode);
        var empty = await Classify(app.RunId, JsonSerializer.Serialize(new { width = 28, height = 28, pixels = new float[784] }));
        Assert.Contains("empty", empty.Detail);

        var unknownRun = await Classify(99_999, JsonSerializer.Serialize(new { width = 28, height = 28, pixels = new float[784] }));
        Assert.Equal(HttpStatusCode.NotFound, unknownRun.Status);
        Assert.Contains("There is no run 99999", unknownRun.Detail);
        var noClassifier = await Classify(app.VaeRunId, JsonSerializer.Serialize(new { width = 28, height = 28, pixels = Enumerable.Repeat(1f, 784) }));
        Assert.Equal(HttpStatusCode.Conflict, noClassifier.Status);
        Assert.Contains("no classifier", noClassifier.Detail);

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/galleries/AAAAAAAAAAAA")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/g/nope.png")).StatusCode);
        var page = await http.GetAsync("/g/AAAAAAAAAAAA");
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Contains("there is no gallery with that id", await page.Content.ReadAsStringAsync());
        var badView = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "dream" });
        Assert.Equal(HttpStatusCode.BadRequest, badView.StatusCode);
        var badDigit = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/explore", new { view = "restyle", testIndex = 10_000_000 });
        Assert.Contains("Test digits are numbered", await badDigit.Content.ReadAsStringAsync());
    }
}
