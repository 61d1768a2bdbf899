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
// What live viewers cost the training: dotnet run -c Release --project VaeWeb.Benchmarks -- viewers [viewers] [rounds]
// Resume under kill -9 of the server process: dotnet run -c Release --project VaeWeb.Benchmarks -- resume [kills] [seed]
if (args.FirstOrDefault() == "resume")
{
    Environment.ExitCode = await ResumeStress.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 20, args.Length > 2 ? int.Parse(args[2]) : 1);
    return;
}
if (args.FirstOrDefault() == "explore")
{
    await ExploreBenchmark.RunAsync();
    return;
}
if (args.FirstOrDefault() == "viewers")
{
    await ViewersBenchmark.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 50, args.Length > 2 ? int.Parse(args[2]) : 3);
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
// Where the time before the first point goes, on the server: the run created, handed to a worker, its first loss.
var clock = Stopwatch.StartNew();
var serverMarks = new System.Collections.Concurrent.ConcurrentDictionary<(long Run, string Mark), double>();
using var subscription = app.Services.GetRequiredService<RunFeed>().Subscribe(null, u =>
{
    if (u.Event is EpochReport e) epochReports[u.RunId] = e;
    if (u.Status == VaeWeb.Server.Data.RunStatus.Queued) serverMarks.TryAdd((u.RunId, "queued"), clock.Elapsed.TotalMilliseconds);
    if (u.Status == VaeWeb.Server.Data.RunStatus.Running) serverMarks.TryAdd((u.RunId, "running"), clock.Elapsed.TotalMilliseconds);
    if (u.Event is StepReport) serverMarks.TryAdd((u.RunId, "loss"), clock.Elapsed.TotalMilliseconds);
    return Task.CompletedTask;
});

using var playwright = await Playwright.CreateAsync();
await using var browser = await Chromium.LaunchAsync(playwright);

var firstPoint = new List<double>();
var (toRunning, toLoss, toPage, toPlotted) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
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
    var page = await app.SignInAsync(await browser.NewPageAsync());
    await page.GotoAsync(new Uri(address, "/runs/new").ToString());
    await page.GetByLabel("Epochs").FillAsync($"{config.Epochs}");
    await page.GetByText("Advanced: train on a subset").ClickAsync();
    await page.GetByLabel("Training images (0 = all 60,000)").FillAsync($"{config.TrainLimit}");
    await page.GetByLabel("Test images (0 = all 10,000)").FillAsync($"{config.TestLimit}");
    // Timed in the page from the click's own event (Playwright's actionability checks before it are not the app's):
    // the run page opened, its two charts plotted, the first loss point drawn, each checked every frame.
    await page.EvaluateAsync("""
        () => document.addEventListener('click', () => {
          const t0 = performance.now(), marks = window.vaewebMarks = {};
          const poll = () => {
            const now = performance.now() - t0, plots = [...document.querySelectorAll('.js-plotly-plot')];
            if (marks.page === undefined && /\/runs\/\d+$/.test(location.pathname)) marks.page = now;
            if (marks.plotted === undefined && plots.length >= 2) marks.plotted = now;
            if (plots.some(p => p.data?.[0]?.x?.length > 0)) { marks.first = now; return; }
            requestAnimationFrame(poll);
          };
          requestAnimationFrame(poll);
        }, { capture: true, once: true })
        """);
    await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
    await page.WaitForFunctionAsync("() => window.vaewebMarks?.first !== undefined", null, new() { PollingInterval = 5, Timeout = 60_000 });
    var marks = await page.EvaluateAsync<Dictionary<string, double>>("() => window.vaewebMarks");
    firstPoint.Add(marks["first"]);
    toPage.Add(marks["page"]);
    toPlotted.Add(marks["plotted"]);
    await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 600_000 });
    var runId = long.Parse(page.Url.Split('/').Last());
    toRunning.Add(serverMarks[(runId, "running")] - serverMarks[(runId, "queued")]);
    toLoss.Add(serverMarks[(runId, "loss")] - serverMarks[(runId, "queued")]);
    webWithPage.Add(epochReports[runId].ImagesPerSecond);
    await page.CloseAsync();

    // C: the same config through the web app and its worker, with no page open: what the server itself costs.
    var run = await runs.SubmitAsync(config, "no page");
    await app.WaitForRun(run.Id, r => r.Status is not (VaeWeb.Server.Data.RunStatus.Queued or VaeWeb.Server.Data.RunStatus.Running), TimeSpan.FromMinutes(10),
        "the run with no page open finishes", TimeSpan.FromMilliseconds(50));
    webNoPage.Add(epochReports[run.Id].ImagesPerSecond);
    Console.WriteLine($"round {round}: engine alone {engineAlone[^1]:N0} img/s · web with page open {webWithPage[^1]:N0} img/s · web, no page {webNoPage[^1]:N0} img/s · Start → first point {firstPoint[^1]:N0} ms " +
        $"(page, from the click: run page {toPage[^1]:N0}, charts plotted {toPlotted[^1]:N0}; server, from the run's creation: handed to the worker {toRunning[^1]:N0}, first loss {toLoss[^1]:N0})");
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
Console.WriteLine();
Console.WriteLine($"config: FC VAE 784-500-500-50, batch {config.BatchSize}, {config.TrainLimit:N0} training images, 1 epoch; {rounds} rounds, medians");
Console.WriteLine($"Start → first loss point on the page: {Median(firstPoint):N0} ms (min {firstPoint.Min():N0}, max {firstPoint.Max():N0})");
Console.WriteLine($"  medians, in the page from the click: run page opened {Median(toPage):N0} ms, its charts plotted {Median(toPlotted):N0} ms; " +
    $"on the server from the run's creation: handed to the worker {Median(toRunning):N0} ms, first loss {Median(toLoss):N0} ms");
Console.WriteLine($"training throughput, engine alone: {Median(engineAlone):N0} images/s");
Console.WriteLine($"training throughput, web app with the page open: {Median(webWithPage):N0} images/s");
Console.WriteLine($"training throughput, web app with no page open: {Median(webNoPage):N0} images/s");
Console.WriteLine($"ratio web with page / engine alone: {Median(webWithPage) / Median(engineAlone):F3}; web without page / engine alone: {Median(webNoPage) / Median(engineAlone):F3}");
train.Dispose();
test.Dispose();

