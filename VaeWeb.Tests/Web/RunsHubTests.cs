using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;
using VaeWeb.Testing;

namespace VaeWeb.Tests.Web;

/// <summary>The runs hub: live numbers of a run for scripts, over real SignalR, signed in only.</summary>
public class RunsHubTests
{
    [Fact]
    public async Task A_watcher_gets_every_step_of_a_run_in_order_then_its_end_and_a_stranger_gets_nothing()
    {
        await using var app = VaeWebServer.Start();
        await using var anonymous = app.RunsHubConnection(anonymous: true);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => anonymous.StartAsync());
        Assert.Contains("401", refused.Message);

        // Watching before the run exists: its id is the next one (a fresh database), so no step can be missed.
        await using var watcher = app.RunsHubConnection();
        var batches = new ConcurrentQueue<RunPoints>();
        watcher.On<RunPoints>(RunsHub.PointsMethod, batches.Enqueue);
        await watcher.StartAsync();
        await watcher.InvokeAsync(nameof(RunsHub.Watch), 1L);
        var run = await app.Services.GetRequiredService<RunService>().SubmitAsync(new RunConfig { Epochs = 2, TrainLimit = 2000, TestLimit = 200, Hidden = [64] }, "watched");
        Assert.Equal(1, run.Id);
        await app.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));
        await WaitUntil(() => batches.Any(b => b.Status == RunStatus.Completed), TimeSpan.FromSeconds(10), "the watcher hears that the run completed");

        var steps = batches.SelectMany(b => b.Steps).Select(s => s.Step).ToList();
        var recorded = (await app.Services.GetRequiredService<RunService>().HistoryAsync(run.Id))!.Metrics
            .Where(m => m.Scope == "step").Select(m => m.Step).Distinct().Order().ToList();
        Assert.Equal(recorded, steps);                                        // every step the server stored, once, in order
        Assert.True(batches.Count < steps.Count, $"{batches.Count} batches for {steps.Count} steps: batches coalesce");
    }
}
