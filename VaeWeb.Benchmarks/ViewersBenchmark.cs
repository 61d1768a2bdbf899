using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;
using VaeWeb.Testing;

/// <summary>
/// What live viewers cost the training, on the server alone: one config trained through the web app with no viewer
/// and with N headless SignalR clients watching it on the runs hub (no browser shares the cores), interleaved A/B/A/B
/// so a background burst hits both sides; the ratio of medians of the worker's own training rate. Every viewer must
/// receive every step, in order.
/// </summary>
static class ViewersBenchmark
{
    public static async Task RunAsync(int viewers, int rounds)
    {
        await using var app = VaeWebServer.Start(prefix: "vaeweb-bench-viewers-", settings: VaeWebServer.ForBenchmarks);
        var runs = app.Services.GetRequiredService<RunService>();
        var config = new RunConfig { Epochs = 2, TrainLimit = 30_000, TestLimit = 1_000 };
        var rates = new ConcurrentDictionary<long, List<double>>();
        using var subscription = app.Services.GetRequiredService<RunFeed>().Subscribe(null, u =>
        {
            if (u.Event is EpochReport e) rates.GetOrAdd(u.RunId, _ => []).Add(e.ImagesPerSecond);
            return Task.CompletedTask;
        });

        var connections = new List<HubConnection>();
        var received = new ConcurrentDictionary<(int Viewer, long Run), ConcurrentQueue<long>>();
        for (int v = 0; v < viewers; v++)
        {
            var connection = app.RunsHubConnection();
            int viewer = v;
            connection.On<RunPoints>(RunsHub.PointsMethod, p =>
            {
                var steps = received.GetOrAdd((viewer, p.RunId), _ => new());
                foreach (var s in p.Steps) steps.Enqueue(s.Step);
            });
            await connection.StartAsync();
            connections.Add(connection);
        }

        var (alone, watched) = (new List<double>(), new List<double>());
        long nextRun = 1;
        for (int round = 1; round <= rounds; round++)
            foreach (var withViewers in new[] { false, true })
            {
                // Watch the next run before it exists (ids count up from 1 in this fresh database): no step is missed.
                long id = nextRun++;
                if (withViewers) await Task.WhenAll(connections.Select(c => c.InvokeAsync(nameof(RunsHub.Watch), id)));
                var run = await runs.SubmitAsync(config, withViewers ? $"{viewers} viewers" : "no viewer");
                if (run.Id != id) throw new InvalidOperationException($"expected run {id}, got {run.Id}");
                await app.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(10));
                var rate = rates[run.Id].Average();
                (withViewers ? watched : alone).Add(rate);
                Console.WriteLine($"round {round}: {(withViewers ? $"{viewers} viewers" : "no viewer")} {rate:N0} images/s");
                if (!withViewers) continue;
                var stored = (await runs.HistoryAsync(run.Id))!.Metrics.Where(m => m.Scope == "step").Select(m => m.Step).Distinct().Order().ToList();
                await Task.Delay(2 * RunBroadcaster.Interval);                 // the last batch
                var complete = Enumerable.Range(0, viewers).Count(v => received.TryGetValue((v, run.Id), out var q) && q.SequenceEqual(stored));
                Console.WriteLine($"  viewers that received all {stored.Count} steps in order, none twice: {complete} of {viewers}");
            }
        foreach (var c in connections) await c.DisposeAsync();

        static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        Console.WriteLine();
        Console.WriteLine($"config: FC VAE 784-500-500-50, batch {config.BatchSize}, {config.TrainLimit:N0} training images, {config.Epochs} epochs; {rounds} rounds, medians");
        Console.WriteLine($"training throughput with no viewer: {Median(alone):N0} images/s; with {viewers} headless viewers on the runs hub: {Median(watched):N0} images/s");
        Console.WriteLine($"ratio {viewers} viewers / none: {Median(watched) / Median(alone):F3}");
    }
}
