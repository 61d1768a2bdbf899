using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>The engine hub, driven by the real .NET SignalR client as a remote worker would.</summary>
public class EngineHubTests
{
    internal static HubConnection Connect(VaeWebServer server, string? token) => new HubConnectionBuilder()
        .WithUrl(new Uri(server.Address, WorkerProtocol.HubPath), o => { if (token is not null) o.AccessTokenProvider = () => Task.FromResult<string?>(token); })
        .Build();

    [Theory]
    [InlineData(null)]
    [InlineData("not-the-token")]
    public async Task A_client_without_the_worker_token_is_refused(string? token)
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        await using var connection = Connect(server, token);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => connection.StartAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_worker_with_the_token_takes_a_queued_run_and_its_metrics_reach_the_database_and_the_pages()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        await using var worker = Connect(server, VaeWebServer.Token);
        var assigned = new TaskCompletionSource<(long RunId, RunConfig Config)>();
        worker.On<long, string>(WorkerProtocol.StartRun, (id, json) => assigned.TrySetResult((id, RunConfig.FromJson(json))));
        await worker.StartAsync();
        var seenByPages = new List<RunUpdate>();
        using var _ = server.Services.GetRequiredService<RunFeed>().Subscribe(null, u => { lock (seenByPages) seenByPages.Add(u); return Task.CompletedTask; });

        using var http = server.CreateClient();
        var submitted = await http.PostAsJsonAsync("/api/runs", new { name = "hub test", config = new { epochs = 3, latent = 7 } });
        submitted.EnsureSuccessStatusCode();
        await worker.InvokeAsync(WorkerProtocol.Ready, "test worker");
        var (runId, config) = await assigned.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(7, config.Latent);
        var metrics = new Dictionary<string, double> { [Metrics.Elbo] = -150, [Metrics.Reconstruction] = 140, [Metrics.Kl] = 10 };
        for (int step = 1; step <= 5; step++)
            await worker.InvokeAsync(WorkerProtocol.Report, runId, Json(new StepReport(1, step, 15, metrics, 1000, TimeSpan.FromSeconds(step), TimeSpan.FromSeconds(10))));
        await worker.InvokeAsync(WorkerProtocol.Report, runId, Json(new EpochReport(1, 3, 5, metrics, metrics, TimeSpan.FromSeconds(5), 1000)));
        var grid = new ImageGrid(1, 2, 28, 28, new byte[2 * 784]);
        await worker.InvokeAsync(WorkerProtocol.Report, runId, Json(new EpochImages(1, grid, grid)));
        await worker.InvokeAsync(WorkerProtocol.Finish, runId, "completed", (string?)null);

        var history = await server.Services.GetRequiredService<RunService>().HistoryAsync(runId);
        Assert.Equal(RunStatus.Completed, history!.Run.Status);
        Assert.Equal("test worker", history.Run.Worker);
        Assert.Equal(5 * 3 + 2 * 3, history.Metrics.Count);                    // 5 steps and the epoch's train and test, 3 metrics each
        Assert.Equal(2, history.Images.Count);
        Assert.Equal(-150, history.Run.TestElbo);
        lock (seenByPages)
        {
            Assert.Equal(5, seenByPages.Count(u => u.Event is StepReport));
            Assert.Contains(seenByPages, u => u.Status == RunStatus.Completed);
        }
    }

    [Fact]
    public async Task A_worker_cannot_report_on_a_run_it_was_not_given()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        await using var worker = Connect(server, VaeWebServer.Token);
        await worker.StartAsync();

        var error = await Assert.ThrowsAsync<HubException>(() => worker.InvokeAsync(WorkerProtocol.Finish, 12345L, "completed", (string?)null));
        Assert.Contains("not assigned to this worker", error.Message);
    }

    [Fact]
    public async Task A_worker_that_disconnects_mid_run_leaves_it_interrupted_with_a_reason()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        var (worker, runId) = await AssignedWorker(server, "flaky worker");

        await worker.DisposeAsync();

        var run = await server.WaitForRun(runId, r => r.Status != RunStatus.Running, TimeSpan.FromSeconds(5), "the server notices the worker left");
        Assert.Equal(RunStatus.Interrupted, run.Status);
        Assert.Contains("flaky worker", run.Error);
    }

    [Fact]
    public async Task The_engine_cli_worker_process_trains_a_run_for_a_server_it_reaches_over_the_network()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();
        var submitted = await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1, trainLimit = 2000, testLimit = 200, hidden = new[] { 100 } } });
        var runId = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();

        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "VaeWeb.Engine.dll"), "worker", "--server", server.Address.ToString(),
                     "--token", VaeWebServer.Token, "--runs", TempFolders.Create("vaeweb-worker-").FullName })
            start.ArgumentList.Add(a);
        using var worker = System.Diagnostics.Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        worker.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        worker.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        try
        {
            try
            {
                await server.WaitForRun(runId, r => worker.HasExited || r.Status is not (RunStatus.Queued or RunStatus.Running), TimeSpan.FromMinutes(1),
                    "the worker process trains the run (or exits)");
            }
            catch (TimeoutException e) { lock (output) throw new TimeoutException($"{e.Message} The worker said:\n{output}", e); }
            var history = await server.Services.GetRequiredService<RunService>().HistoryAsync(runId);
            lock (output) Assert.True(history!.Run.Status == RunStatus.Completed, $"run is {history.Run.Status}; worker said:\n{output}");
            Assert.NotEmpty(history.Metrics);
            Assert.Equal(2, history.Images.Count);
            Assert.Equal(Environment.MachineName, history.Run.Worker);
        }
        finally { worker.Kill(entireProcessTree: true); }
    }

    /// <summary>A test worker holding one assigned run of a 3-epoch config.</summary>
    static async Task<(HubConnection Worker, long RunId)> AssignedWorker(VaeWebServer server, string name = "hostile worker")
    {
        var worker = Connect(server, VaeWebServer.Token);
        var assigned = new TaskCompletionSource<long>();
        worker.On<long, string>(WorkerProtocol.StartRun, (id, _) => assigned.TrySetResult(id));
        await worker.StartAsync();
        using var http = server.CreateClient();
        (await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 3 } })).EnsureSuccessStatusCode();
        await worker.InvokeAsync(WorkerProtocol.Ready, name);
        return (worker, await assigned.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Reports_that_do_not_fit_the_run_are_refused_and_never_stored()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        var (worker, runId) = await AssignedWorker(server);
        await using var _ = worker;
        var metrics = new Dictionary<string, double> { [Metrics.Elbo] = -100 };
        async Task Refused(object e, string because) =>
            Assert.Contains(because, (await Assert.ThrowsAsync<HubException>(() => worker.InvokeAsync(WorkerProtocol.Report, runId, Json((TrainingEvent)e)))).Message);

        await Refused(new EpochReport(1, 0, 5, metrics, metrics, TimeSpan.FromSeconds(1), 10), "an epoch report of 0 epochs");
        await Refused(new EpochReport(9, 3, 5, metrics, metrics, TimeSpan.FromSeconds(1), 10), "epoch 9");
        await Refused(new StepReport(1, 50, 10, metrics, 10, TimeSpan.Zero, null), "step 50 of 10");
        await Refused(new EpochImages(1, new ImageGrid(2, 2, 28, 28, new byte[10]), new ImageGrid(1, 1, 28, 28, new byte[784])), "needs 3,136 bytes");
        Assert.Contains("not a training event", (await Assert.ThrowsAsync<HubException>(() => worker.InvokeAsync(WorkerProtocol.Report, runId, "{\"type\": \"epoch\", \"epoch\": \"x\"}"))).Message);
        // "Ready" while training: refused, and the run stays the worker's (it can still be cancelled, not stuck).
        Assert.Contains("Finish", (await Assert.ThrowsAsync<HubException>(() => worker.InvokeAsync(WorkerProtocol.Ready, "hostile worker"))).Message);

        using var http = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/runs")).StatusCode);
        var history = await server.Services.GetRequiredService<RunService>().HistoryAsync(runId);
        Assert.Empty(history!.Metrics);
        Assert.Empty(history.Images);
        Assert.Equal(0, history.Run.Progress);
        var cancelled = new TaskCompletionSource<long>();
        worker.On<long>(WorkerProtocol.CancelRun, id => cancelled.TrySetResult(id));
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{runId}/cancel", null)).StatusCode);
        Assert.Equal(runId, await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_message_over_the_engine_hubs_limit_closes_the_connection_and_the_blazor_hub_keeps_the_default_limit()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        var (worker, runId) = await AssignedWorker(server);
        await using var _ = worker;
        var closed = new TaskCompletionSource<Exception?>();
        worker.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        var huge = new StageReport(new string('x', WorkerProtocol.MaximumMessageBytes + 1));
        try { await worker.InvokeAsync(WorkerProtocol.Report, runId, Json(huge)); } catch (Exception) { }
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // Only the workers' hub is raised; every other hub, the circuits' included, keeps SignalR's 32 KB.
        var options = server.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HubOptions>>().Value;
        Assert.Equal(32 * 1024, options.MaximumReceiveMessageSize);
        var engine = server.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HubOptions<VaeWeb.Server.Engine.EngineHub>>>().Value;
        Assert.Equal(WorkerProtocol.MaximumMessageBytes, engine.MaximumReceiveMessageSize);
    }

    [Fact]
    public async Task A_checkpoint_many_times_the_message_limit_arrives_in_chunks_intact_and_the_model_explores()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        // 784-1536-1536 and back: 7.4 M parameters, a 29 MB checkpoint, 28 times the engine hub's message limit.
        var run = await runs.SubmitAsync(new RunConfig { Epochs = 1, Hidden = [1536, 1536], TrainLimit = 500, TestLimit = 100 }, "big checkpoint");
        var done = await server.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));
        Assert.True(done.Status == RunStatus.Completed, $"{done.Status}: {done.Error}");

        var folder = server.Services.GetRequiredService<RunService>().RunFolder(run.Id);
        var onDisk = await File.ReadAllBytesAsync(Path.Combine(folder, "model.pt"));
        Assert.True(onDisk.Length > 20 * WorkerProtocol.MaximumMessageBytes, $"the checkpoint is only {onDisk.Length:N0} bytes");
        await WaitUntil(async () =>
        {
            await using var db = await server.Services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<VaeWebDb>>().CreateDbContextAsync();
            return await db.Checkpoints.FindAsync(run.Id) is { } c && c.Model.AsSpan().SequenceEqual(onDisk);
        }, TimeSpan.FromSeconds(30), "the stored checkpoint is byte for byte the worker's model.pt");
        Assert.Empty(Directory.GetFiles(folder, "upload-*"));                 // the worker's upload copies are gone

        using var http = server.CreateClient();
        var samples = await http.PostAsJsonAsync($"/api/runs/{run.Id}/explore", new { view = "samples", seed = 1 });
        Assert.Equal(HttpStatusCode.OK, samples.StatusCode);
    }

    [Fact]
    public async Task A_diverging_run_fails_with_where_the_loss_became_nan_and_what_to_try()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        var run = await runs.SubmitAsync(new RunConfig { Epochs = 1, LearningRate = 1, BatchSize = 1, TrainLimit = 1000, TestLimit = 100 }, "diverges");
        var done = await server.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(1));
        Assert.Equal(RunStatus.Failed, done.Status);
        Assert.Matches(@"^The loss became (NaN|infinite) at step \d+ of epoch 1 .*try a lower learning rate\.$", done.Error);
        using var http = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/runs")).StatusCode);
    }

    internal static string Json(TrainingEvent e) => JsonSerializer.Serialize(e, RunConfig.Json);
}
