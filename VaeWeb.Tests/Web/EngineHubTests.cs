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
    static HubConnection Connect(VaeWebServer server, string? token) => new HubConnectionBuilder()
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
        Assert.Equal(-150, history.Run.BestTestElbo);
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
        var worker = Connect(server, VaeWebServer.Token);
        var assigned = new TaskCompletionSource<long>();
        worker.On<long, string>(WorkerProtocol.StartRun, (id, _) => assigned.TrySetResult(id));
        await worker.StartAsync();
        using var http = server.CreateClient();
        (await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1 } })).EnsureSuccessStatusCode();
        await worker.InvokeAsync(WorkerProtocol.Ready, "flaky worker");
        var runId = await assigned.Task.WaitAsync(TimeSpan.FromSeconds(10));

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
                     "--token", VaeWebServer.Token, "--runs", Directory.CreateTempSubdirectory("vaeweb-worker-").FullName })
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

    static string Json(TrainingEvent e) => JsonSerializer.Serialize(e, RunConfig.Json);
}
