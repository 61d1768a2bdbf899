using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Runs;
using VaeWeb.Testing;

// The web app's costs, measured against the engine alone in the same process and the same run of this program:
//  1. latency from pressing Start in Chromium to the first loss point drawn on the page;
//  2. training throughput of one config through the web app with its page open, versus Trainer.Run alone (what the
//     CLI's `train` does), interleaved A/B/A/B so a background burst hits both sides.
// Run: dotnet run -c Release --project VaeWeb.Benchmarks [-- rounds]
// The explore views' latencies: dotnet run -c Release --project VaeWeb.Benchmarks -- explore
if (args.FirstOrDefault() == "explore")
{
    await ExploreBenchmark.RunAsync();
    return;
}
int rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 3;
var config = new RunConfig { Epochs = 1, TrainLimit = 30_000, TestLimit = 1_000 };

TorchRuntime.EnsureInitialized();
var (train, test) = Datasets.Load(config.Dataset);
await using var app = VaeWebServer.Start(prefix: "vaeweb-bench-", settings: VaeWebServer.WarningsOnly);
var address = app.Address;
// The worker's own epoch report carries the training rate (the test pass excluded), the same figure as side A's.
var epochReports = new System.Collections.Concurrent.ConcurrentDictionary<long, EpochReport>();
using var subscription = app.Services.GetRequiredService<RunFeed>().Subscribe(null, u =>
{
    if (u.Event is EpochReport e) epochReports[u.RunId] = e;
    return Task.CompletedTask;
});

using var playwright = await Playwright.CreateAsync();
await using var browser = await Chromium.LaunchAsync(playwright);

var firstPoint = new List<double>();
var engineAlone = new List<double>();
var webWithPage = new List<double>();
var webNoPage = new List<double>();
var runs = app.Services.GetRequiredService<RunService>();
for (int round = 1; round <= rounds; round++)
{
    // A: the engine alone, as `train` runs it.
    using (var subsetTrain = train.Take(config.TrainLimit))
    using (var subsetTest = test.Take(config.TestLimit))
    {
        EpochReport? report = null;
        Trainer.Run(config, subsetTrain, subsetTest, onEvent: e => report = e as EpochReport ?? report);
        engineAlone.Add(report!.ImagesPerSecond);
    }

    // B: the same config started from the form, with its live page open until it completes.
    var page = await browser.NewPageAsync();
    await page.GotoAsync(new Uri(address, "/runs/new").ToString());
    await page.GetByLabel("Epochs").FillAsync($"{config.Epochs}");
    await page.GetByText("Advanced: train on a subset").ClickAsync();
    await page.GetByLabel("Training images (0 = all 60,000)").FillAsync($"{config.TrainLimit}");
    await page.GetByLabel("Test images (0 = all 10,000)").FillAsync($"{config.TestLimit}");
    var clock = Stopwatch.StartNew();
    await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
    await page.WaitForFunctionAsync("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.data?.[0]?.x?.length > 0)",
        null, new() { PollingInterval = 5, Timeout = 60_000 });
    firstPoint.Add(clock.Elapsed.TotalMilliseconds);
    await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 600_000 });
    var runId = long.Parse(page.Url.Split('/').Last());
    webWithPage.Add(epochReports[runId].ImagesPerSecond);
    await page.CloseAsync();

    // C: the same config through the web app and its worker, with no page open: what the server itself costs.
    var run = await runs.SubmitAsync(config, "no page");
    await app.WaitForRun(run.Id, r => r.Status is not (VaeWeb.Server.Data.RunStatus.Queued or VaeWeb.Server.Data.RunStatus.Running), TimeSpan.FromMinutes(10),
        "the run with no page open finishes", TimeSpan.FromMilliseconds(50));
    webNoPage.Add(epochReports[run.Id].ImagesPerSecond);
    Console.WriteLine($"round {round}: engine alone {engineAlone[^1]:N0} img/s · web with page open {webWithPage[^1]:N0} img/s · web, no page {webNoPage[^1]:N0} img/s · Start → first point {firstPoint[^1]:N0} ms");
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
Console.WriteLine();
Console.WriteLine($"config: FC VAE 784-500-500-50, batch {config.BatchSize}, {config.TrainLimit:N0} training images, 1 epoch; {rounds} rounds, medians");
Console.WriteLine($"Start → first loss point on the page: {Median(firstPoint):N0} ms (min {firstPoint.Min():N0}, max {firstPoint.Max():N0})");
Console.WriteLine($"training throughput, engine alone: {Median(engineAlone):N0} images/s");
Console.WriteLine($"training throughput, web app with the page open: {Median(webWithPage):N0} images/s");
Console.WriteLine($"training throughput, web app with no page open: {Median(webNoPage):N0} images/s");
Console.WriteLine($"ratio web with page / engine alone: {Median(webWithPage) / Median(engineAlone):F3}; web without page / engine alone: {Median(webNoPage) / Median(engineAlone):F3}");
train.Dispose();
test.Dispose();

