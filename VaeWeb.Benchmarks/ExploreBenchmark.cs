using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Runs;
using VaeWeb.Testing;

/// <summary>
/// Latency of the explore views, each beside a reference measured in the same run:
///  - draw → prediction: 100 classify requests of a 280x280 drawing, round trip from .NET and from inside Chromium
///    (the page's own fetch), and the model's time on the server (Server-Timing); reference: GET /health round trip;
///  - gallery page load in Chromium (prerendered, no circuit) against the interactive run page of the same run.
/// </summary>
static class ExploreBenchmark
{
    public static async Task RunAsync()
    {
        await using var app = VaeWebServer.Start(prefix: "vaeweb-bench-explore-", settings: VaeWebServer.ForBenchmarks);
        var address = app.Address;
        var runs = app.Services.GetRequiredService<RunService>();
        // The poster's FC M2 networks (784-500-500-50), trained briefly: latency depends on the size, not the accuracy.
        var run = await runs.SubmitAsync(new RunConfig { Model = ModelKind.M2, Labels = 1000, Epochs = 1, TrainLimit = 3000, TestLimit = 500 }, "bench m2");
        await app.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(10));

        // A test digit drawn 10x larger, as the 280x280 pad sends it.
        var (_, test) = Datasets.Load("mnist");
        var digit = test.Images[0].data<float>().ToArray();
        var pad = Enumerable.Range(0, 280 * 280).Select(i => digit[i / 280 / 10 * 28 + i % 280 / 10]).Select(v => MathF.Round(v * 100) / 100).ToArray();
        var body = new { width = 280, height = 280, pixels = pad };
        using var http = app.CreateClient();
        var roundTrip = new List<double>();
        var server = new List<double>();
        var health = new List<double>();
        for (int i = 0; i < 110; i++)
        {
            var clock = Stopwatch.StartNew();
            using var response = await http.PostAsJsonAsync($"/api/runs/{run.Id}/classify", body);
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsByteArrayAsync();
            var elapsed = clock.Elapsed.TotalMilliseconds;
            var timing = response.Headers.GetValues("Server-Timing").Single();
            clock.Restart();
            (await http.GetAsync("/health")).EnsureSuccessStatusCode();
            if (i < 10) continue;                                            // warm-up
            roundTrip.Add(elapsed);
            server.Add(double.Parse(timing[(timing.IndexOf("dur=") + 4)..], System.Globalization.CultureInfo.InvariantCulture));
            health.Add(clock.Elapsed.TotalMilliseconds);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Chromium.LaunchAsync(playwright);
        var page = await app.SignInAsync(await browser.NewPageAsync());
        await page.GotoAsync(new Uri(address, "/health").ToString());
        var browserTimes = await page.EvaluateAsync<double[]>($$"""
            async () => {
              const pixels = {{System.Text.Json.JsonSerializer.Serialize(pad)}};
              const body = JSON.stringify({ width: 280, height: 280, pixels });
              const times = [];
              for (let i = 0; i < 110; i++) {
                const t = performance.now();
                const r = await fetch('/api/runs/{{run.Id}}/classify', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
                await r.json();
                if (i >= 10) times.push(performance.now() - t);
              }
              return times;
            }
            """);

        using var gallery = await http.PostAsJsonAsync($"/api/runs/{run.Id}/galleries", new { view = "samples", seed = 3 });
        var galleryUrl = (await gallery.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("url").GetString()!;
        var galleryLoads = new List<double>();
        var runPageLoads = new List<double>();
        for (int i = 0; i < 12; i++)
        {
            var fresh = await browser.NewPageAsync();
            var clock = Stopwatch.StartNew();
            await fresh.GotoAsync(new Uri(address, galleryUrl).ToString(), new() { WaitUntil = WaitUntilState.Load });
            await fresh.WaitForFunctionAsync("() => document.querySelector('[data-testid=gallery-image]')?.complete");
            var galleryMs = clock.Elapsed.TotalMilliseconds;
            await fresh.CloseAsync();
            fresh = await app.SignInAsync(await browser.NewPageAsync());
            clock.Restart();
            await fresh.GotoAsync(new Uri(address, $"/runs/{run.Id}").ToString());
            await fresh.GetByTestId("samples-grid").WaitForAsync();
            await fresh.WaitForFunctionAsync("() => document.querySelector('[data-testid=samples-grid]')?.dataset.drawn === '100'");
            var runMs = clock.Elapsed.TotalMilliseconds;
            await fresh.CloseAsync();
            if (i < 2) continue;
            galleryLoads.Add(galleryMs);
            runPageLoads.Add(runMs);
        }

        static double P(List<double> v, double q) => v.Order().ElementAt((int)Math.Min(v.Count - 1, Math.Floor(q * v.Count)));
        static string Stats(List<double> v) => $"median {P(v, 0.5):F1} ms, p95 {P(v, 0.95):F1} ms";
        var inBrowser = browserTimes.ToList();
        Console.WriteLine($"model: FC M2 784-500-500-50; drawing 280x280; 100 requests after 10 warm-up; {Environment.ProcessorCount} cores");
        Console.WriteLine($"draw → prediction, round trip from .NET:      {Stats(roundTrip)}");
        Console.WriteLine($"draw → prediction, round trip inside Chromium: {Stats(inBrowser)}");
        Console.WriteLine($"  of which preprocessing + model on the server: {Stats(server)}");
        Console.WriteLine($"reference: GET /health round trip:             {Stats(health)}  → classify/health median ratio {P(roundTrip, 0.5) / P(health, 0.5):F1}");
        Console.WriteLine($"gallery page load (prerendered, image loaded): {Stats(galleryLoads)}");
        Console.WriteLine($"reference: run page load (interactive, grid drawn): {Stats(runPageLoads)}  → gallery/run page median ratio {P(galleryLoads, 0.5) / P(runPageLoads, 0.5):F2}");
        test.Dispose();
    }
}
