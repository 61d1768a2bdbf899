using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>Runs stopped mid-training (a server restart, a cancel) continue where they stopped: API, setting and button.</summary>
public class ResumeWebTests(Browser browser) : IClassFixture<Browser>
{
    // 100 steps an epoch, a step report every 4 steps: seconds an epoch on one core.
    static readonly RunConfig Config = new() { Epochs = 4, TrainLimit = 10_000, TestLimit = 500, Hidden = [200, 200], Latent = 20 };
    const int StepsPerEpoch = 100, ReportEvery = 4;

    /// <summary>Trains <see cref="Config"/> on a new server until an epoch is saved, then stops the server mid-run.</summary>
    static async Task<(string Database, long RunId)> TrainThenStopTheServer()
    {
        await using var server = VaeWebServer.Start();
        var run = await server.Services.GetRequiredService<RunService>().SubmitAsync(Config, "resumed run");
        await server.WaitForRun(run.Id, r => r.EpochsDone >= 1, TimeSpan.FromMinutes(2), "the first epoch is saved");
        return (server.Database, run.Id);
    }

    /// <summary>
    /// The stored history is that of the run uninterrupted: every step the loop reports (step 1, then every 4th),
    /// once and in order, each epoch's test numbers and images once.
    /// </summary>
    static async Task AssertHistoryWhole(VaeWebServer server, long runId)
    {
        var run = await server.WaitForRunToFinish(runId, TimeSpan.FromMinutes(3));
        Assert.True((run.Status, run.EpochsDone) == (RunStatus.Completed, Config.Epochs), $"run {runId} is {run.Status} after {run.EpochsDone} epochs: {run.Error}");
        var history = (await server.Services.GetRequiredService<RunService>().HistoryAsync(runId))!;
        var expected = Enumerable.Range(1, Config.Epochs * StepsPerEpoch).Where(s => s == 1 || s % ReportEvery == 0).Select(s => (long)s).ToList();
        foreach (var metric in history.Metrics.Where(m => m.Scope == "step").GroupBy(m => m.Name))
            Assert.Equal(expected, metric.Select(m => m.Step));
        Assert.Equal(Enumerable.Range(1, Config.Epochs), history.Metrics.Where(m => m.Scope == "test" && m.Name == Metrics.Elbo).Select(m => m.Epoch));
        Assert.Equal(Enumerable.Range(1, Config.Epochs), history.Images.Where(i => i.Kind == "samples").Select(i => i.Epoch));
    }

    [Fact]
    public async Task An_epoch_counts_as_done_once_saved_and_a_resumed_run_continues_from_it_on_a_worker_or_starts_again()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        var runs = server.Services.GetRequiredService<RunService>();
        await using var worker = EngineHubTests.Connect(server, VaeWebServer.Token);
        var given = new BlockingCollection<(string Message, long RunId, int Epoch)>();
        worker.On<long, string>(WorkerProtocol.StartRun, (id, _) => given.Add((WorkerProtocol.StartRun, id, 0)));
        worker.On<long, string, int>(WorkerProtocol.ResumeRun, (id, _, epoch) => given.Add((WorkerProtocol.ResumeRun, id, epoch)));
        await worker.StartAsync();
        await worker.InvokeAsync(WorkerProtocol.Ready, "remote");              // idle again after each Finish
        Task<(string Message, long RunId, int Epoch)> Take() => Task.Run(() => given.Take(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token));
        Task Report(long run, TrainingEvent e) => worker.InvokeAsync(WorkerProtocol.Report, run, EngineHubTests.Json(e));
        var metrics = new Dictionary<string, double> { [Metrics.Elbo] = -150 };
        StepReport Step(int epoch, long step) => new(epoch, step, 15, metrics, 1000, TimeSpan.FromSeconds(step), null);

        var saved = (await runs.SubmitAsync(Config with { Epochs = 3 }, "saved an epoch")).Id;
        Assert.Equal((WorkerProtocol.StartRun, saved, 0), await Take());
        for (int step = 1; step <= 5; step++) await Report(saved, Step(1, step));
        await Report(saved, new EpochReport(1, 3, 5, metrics, metrics, TimeSpan.FromSeconds(5), 1000));
        // Killed here the run would redo epoch 1: its images and checkpoint may not be written yet.
        Assert.Equal((0, (long?)null), await runs.FindAsync(saved) is { } before ? (before.EpochsDone, before.ResumeStep) : default);
        await Report(saved, new EpochSaved(1, 5));
        Assert.Equal((1, (long?)5), await runs.FindAsync(saved) is { } after ? (after.EpochsDone, after.ResumeStep) : default);
        await Report(saved, Step(2, 6));
        await worker.InvokeAsync(WorkerProtocol.Finish, saved, "cancelled", (string?)null);

        Assert.True(await runs.ResumeAsync(saved));
        Assert.Equal((WorkerProtocol.ResumeRun, saved, 1), await Take());
        Assert.Equal([1, 2, 3, 4, 5, 5, 5], (await runs.HistoryAsync(saved))!.Metrics.Select(m => m.Step));   // epoch 1 train and test kept, epoch 2 dropped
        await worker.InvokeAsync(WorkerProtocol.Finish, saved, "cancelled", (string?)null);

        var unsaved = (await runs.SubmitAsync(Config with { Epochs = 3 }, "saved nothing")).Id;
        Assert.Equal((WorkerProtocol.StartRun, unsaved, 0), await Take());
        await Report(unsaved, Step(1, 1));
        await worker.InvokeAsync(WorkerProtocol.Finish, unsaved, "cancelled", (string?)null);
        Assert.True(await runs.ResumeAsync(unsaved));
        Assert.Equal((WorkerProtocol.StartRun, unsaved, 0), await Take());                            // from the beginning
        Assert.Empty((await runs.HistoryAsync(unsaved))!.Metrics);
        await Assert.ThrowsAsync<InvalidOperationException>(() => runs.ResumeAsync(unsaved));        // running: nothing to resume
    }

    [Fact]
    public async Task A_run_interrupted_by_a_restart_resumes_through_the_api_without_a_gap_or_a_repeated_step()
    {
        var (database, runId) = await TrainThenStopTheServer();
        await using var server = VaeWebServer.Restart(database);
        using var http = server.CreateClient();
        var stopped = await http.GetFromJsonAsync<JsonElement>($"/api/runs/{runId}");
        Assert.Equal("interrupted", stopped.GetProperty("status").GetString());
        Assert.True(stopped.GetProperty("canResume").GetBoolean());
        Assert.InRange(stopped.GetProperty("epochsDone").GetInt32(), 1, Config.Epochs - 1);                        // stopped mid-run

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{runId}/resume", null)).StatusCode);
        await AssertHistoryWhole(server, runId);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"/api/runs/{runId}/resume", null)).StatusCode);   // completed
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/runs/999/resume", null)).StatusCode);
    }

    [Fact]
    public async Task With_auto_resume_a_run_interrupted_by_a_restart_continues_by_itself()
    {
        var (database, runId) = await TrainThenStopTheServer();
        await using var server = VaeWebServer.Restart(database, settings: new Dictionary<string, string> { ["Engine:AutoResume"] = "true" });
        await AssertHistoryWhole(server, runId);
    }

    [Fact]
    public async Task A_cancelled_run_resumes_from_the_button_on_its_page_opened_from_the_runs_list()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        var run = await runs.SubmitAsync(Config, "run to resume");
        await server.WaitForRun(run.Id, r => r.EpochsDone >= 1, TimeSpan.FromMinutes(2), "the first epoch is saved");
        await runs.CancelAsync(run.Id);
        await server.WaitForRun(run.Id, r => r.Status == RunStatus.Cancelled, TimeSpan.FromSeconds(30), "the run is cancelled");

        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "run to resume" }).ClickAsync();
        await page.GetByTestId("resume").WaitForAsync();
        await Browser.Screenshot(page, "7-run-cancelled-can-resume");
        await page.GetByTestId("resume").ClickAsync();
        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 180_000 });
        await Assertions.Expect(page.GetByTestId("resume")).ToHaveCountAsync(0);
        await EndToEndTests.AssertNoStepTwice(page, run.Id, "after resuming");
        int points = 0, expected = Config.Epochs * StepsPerEpoch / ReportEvery + 1;
        await WaitUntil(async () => (points = await EndToEndTests.StepPoints(page, run.Id)) == expected, TimeSpan.FromSeconds(30),
            () => $"the chart has all {expected} step points (it has {points})");
        await Browser.Screenshot(page, "8-run-resumed");
        await AssertHistoryWhole(server, run.Id);
    }
}
