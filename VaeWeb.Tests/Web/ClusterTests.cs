using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Proxy;
using VaeWeb.Server.Data;
using VaeWeb.Server.Engine;
using VaeWeb.Server.Runs;
using Xunit.Abstractions;

namespace VaeWeb.Tests.Web;

/// <summary>
/// The real PostgreSQL and Redis of Debian's packages, started once for the class in folders of their own (each test
/// has a database of its own); skipped, saying why, where they are not installed.
/// </summary>
public sealed class ClusterServices : IAsyncLifetime
{
    public PostgresServer? Postgres { get; private set; }
    public RedisServer? Redis { get; private set; }
    public string? Unavailable { get; } = PostgresServer.Unavailable() ?? RedisServer.Unavailable();
    public DatasetCache Datasets { get; } = new();
    int _databases;

    public async Task InitializeAsync()
    {
        if (Unavailable is not null) return;
        Postgres = await PostgresServer.StartAsync();
        Redis = await RedisServer.StartAsync();
    }

    public Task<string> NewDatabaseAsync() => Postgres!.DatabaseAsync($"vaeweb{Interlocked.Increment(ref _databases)}");

    public async Task DisposeAsync()
    {
        if (Redis is not null) await Redis.DisposeAsync();
        if (Postgres is not null) await Postgres.DisposeAsync();
    }
}

/// <summary>
/// Several server replicas on one PostgreSQL database with Redis as SignalR's backplane, and a pool of real engine
/// workers: queued runs are each trained once, live points cross replicas, a stopped replica's runs finish through the
/// other, and everything stored (checkpoints, galleries) is served by either.
/// </summary>
public class ClusterTests(ClusterServices services, Browser browser, ITestOutputHelper output) : IClassFixture<ClusterServices>, IClassFixture<Browser>
{
    // One epoch of 500 images: a second or two of training each.
    static readonly RunConfig Tiny = new() { Epochs = 1, TrainLimit = 500, TestLimit = 100, Hidden = [64], Latent = 8 };

    sealed class Cluster(ClusterServices services, ITestOutputHelper output) : IAsyncDisposable
    {
        public List<VaeWebServer> Replicas { get; } = [];
        string? _database;
        Process? _process;
        public ConcurrentQueue<(string Worker, string Message)> WorkerLog { get; } = new();
        readonly List<(string Name, EngineWorker Worker, Task Running, CancellationTokenSource Stopping)> _workers = [];
        readonly CancellationTokenSource _stopping = new();
        WebApplication? _proxy;
        public Uri? ProxyAddress { get; private set; }

        public async Task StartReplicasAsync(int count)
        {
            _database ??= await services.NewDatabaseAsync();
            var settings = new Dictionary<string, string>(VaeWebServer.WarningsOnly) { ["Engine:Redis"] = services.Redis!.Configuration };
            for (var i = 0; i < count; i++) Replicas.Add(VaeWebServer.StartReplica(_database, settings));
        }

        /// <summary>A replica as a process of its own (VaeWeb.Server built beside the tests), to be killed with a signal.</summary>
        public async Task<(Process Process, Uri Address)> StartReplicaProcessAsync()
        {
            _database ??= await services.NewDatabaseAsync();
            var port = PostgresServer.FreePort();
            var program = AppContext.BaseDirectory.Replace("VaeWeb.Tests", "VaeWeb.Server") + "VaeWeb.Server";
            var start = new ProcessStartInfo(program) { WorkingDirectory = Path.GetDirectoryName(program)!, RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
            start.Environment["Engine__Database"] = _database;
            start.Environment["Engine__Redis"] = services.Redis!.Configuration;
            start.Environment["Engine__EmbeddedWorker"] = "false";
            start.Environment["Engine__RunsDirectory"] = TempFolders.Create("vaeweb-replica-").FullName;
            start.Environment["Engine__WorkerToken"] = VaeWebServer.Token;
            start.Environment["Auth__Token"] = VaeWebServer.AccessToken;
            start.Environment["Logging__LogLevel__Default"] = "Warning";
            _process = Process.Start(start)!;
            _process.OutputDataReceived += (_, _) => { };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 }) output.WriteLine($"replica process: {e.Data}"); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            var address = new Uri($"http://127.0.0.1:{port}/");
            using var http = new HttpClient { BaseAddress = address };
            await WaitUntil(async () =>
            {
                try { return (await http.GetAsync("/health")).IsSuccessStatusCode; }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromMinutes(1), "the replica process answers /health");
            return (_process, address);
        }

        public async Task StartProxyAsync(IEnumerable<Uri> replicas)
        {
            _proxy = ReplicaProxy.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Error"], [.. replicas.Select(r => r.ToString())]);
            await _proxy.StartAsync();
            ProxyAddress = new Uri(_proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        }

        public void StartWorker(Uri server, string name)
        {
            var worker = new EngineWorker(server, VaeWebServer.Token, TempFolders.Create($"vaeweb-{name}-").FullName, services.Datasets,
                m => { WorkerLog.Enqueue((name, m)); output.WriteLine($"{name}: {m}"); }) { Name = name };
            var stopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            _workers.Add((name, worker, Task.Run(() => worker.RunAsync(stopping.Token)), stopping));
        }

        /// <summary>Stops the worker as its machine dying would: it says nothing more to any server.</summary>
        public async Task StopWorkerAsync(string name)
        {
            var (_, worker, running, stopping) = _workers.Single(w => w.Name == name);
            stopping.Cancel();
            try { await running; } catch (Exception) { }
        }

        /// <summary>The ids of the runs each "training" (fresh start) log line names, one entry per start.</summary>
        public List<long> FreshStarts() => [.. WorkerLog.Select(l => l.Message).Where(m => m.StartsWith("run ") && m.Contains(": training "))
            .Select(m => long.Parse(m[4..m.IndexOf(':')]))];

        public async ValueTask DisposeAsync()
        {
            _stopping.Cancel();
            foreach (var (_, worker, running, _) in _workers)
            {
                try { await running; } catch (Exception) { }
                await worker.DisposeAsync();
            }
            if (_proxy is not null) await _proxy.DisposeAsync();
            if (_process is { HasExited: false }) { _process.Kill(); await _process.WaitForExitAsync(); }
            foreach (var replica in Replicas) await replica.DisposeAsync();
        }
    }

    static RunService Runs(VaeWebServer replica) => replica.Services.GetRequiredService<RunService>();

    /// <summary>No step, epoch number or image grid of the run stored twice.</summary>
    static async Task AssertStoredOnce(VaeWebServer replica, long runId)
    {
        var history = (await Runs(replica).HistoryAsync(runId))!;
        var repeated = history.Metrics.GroupBy(m => (m.Scope, m.Name, m.Step, m.Epoch)).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(repeated.Count == 0, $"run {runId} has points stored twice: {string.Join(", ", repeated.Take(5))}");
        Assert.Equal(history.Images.Count, history.Images.Select(i => (i.Epoch, i.Kind)).Distinct().Count());
        Assert.Equal(history.Config.Epochs * 2, history.Images.Count);
    }

    [SkippableFact]
    public async Task Twelve_queued_runs_on_two_replicas_and_three_workers_are_each_trained_once_and_either_replica_serves_them()
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(2);
        var (a, b) = (cluster.Replicas[0], cluster.Replicas[1]);

        // Queued before any worker exists, half on each replica; then two workers on A, one on B.
        var runs = new List<Run>();
        for (var i = 0; i < 12; i++) runs.Add(await Runs(i % 2 == 0 ? a : b).SubmitAsync(Tiny with { Seed = i + 1 }, $"cluster run {i + 1}"));
        var started = Stopwatch.StartNew();
        cluster.StartWorker(a.Address, "worker-1");
        cluster.StartWorker(a.Address, "worker-2");
        cluster.StartWorker(b.Address, "worker-3");
        foreach (var run in runs)
        {
            var done = await a.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));
            Assert.True(done.Status == RunStatus.Completed, $"run {run.Id} is {done.Status}: {done.Error}");
        }
        output.WriteLine($"12 runs trained by 3 workers through 2 replicas in {started.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(runs.Select(r => r.Id).Order(), cluster.FreshStarts().Order());   // each started once, by one worker
        var finished = await Runs(b).ListAsync();
        Assert.All(finished, r => Assert.Equal(RunStatus.Completed, r.Status));
        Assert.Contains(finished, r => r.Worker == "worker-3");                      // both replicas handed runs out
        Assert.Contains(finished, r => r.Worker is "worker-1" or "worker-2");
        foreach (var run in runs) await AssertStoredOnce(b, run.Id);

        // Everything is in the shared database: B explores A's runs' checkpoints and serves a gallery made on A.
        using var http = a.CreateClient();
        var created = await http.PostAsJsonAsync($"/api/runs/{runs[0].Id}/galleries", new { view = "samples", seed = 3, temperature = 1.0 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var galleryId = (await created.Content.ReadFromJsonAsync<GalleryCreatedDto>())!.Id;
        using var anonymousB = b.CreateAnonymousClient();
        var page = await anonymousB.GetAsync($"/g/{galleryId}");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains(runs[0].Name, await page.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await anonymousB.GetAsync($"/g/{galleryId}.png")).StatusCode);
        using var httpB = b.CreateClient();
        var regenerated = await httpB.PostAsync($"/api/galleries/{galleryId}/regenerate", null);
        Assert.Equal(HttpStatusCode.OK, regenerated.StatusCode);
        Assert.True((await regenerated.Content.ReadFromJsonAsync<RegenerationDto>())!.Identical);   // B's checkpoint, the same pixels
    }

    sealed record GalleryCreatedDto(string Id);
    sealed record RegenerationDto(bool Identical);

    [SkippableFact]
    public async Task A_viewer_on_one_replica_gets_the_live_points_of_a_run_whose_worker_is_on_the_other()
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(2);
        var (a, b) = (cluster.Replicas[0], cluster.Replicas[1]);
        cluster.StartWorker(b.Address, "worker-b");
        await WaitUntil(() => b.Services.GetRequiredService<RunDispatcher>().WorkerCount == 1, TimeSpan.FromSeconds(30), "the worker connects to B");

        // Published on B (where the worker reports), received on A by the runs hub and by A's own feed (A's pages).
        var clock = Stopwatch.StartNew();
        var publishedOnB = new ConcurrentDictionary<long, double>();
        using var onB = b.Services.GetRequiredService<RunFeed>().Subscribe(null, u => { if (u.Event is StepReport s) publishedOnB.TryAdd(s.Step, clock.Elapsed.TotalMilliseconds); return Task.CompletedTask; });
        var feedOnA = new ConcurrentQueue<(long Step, double At, bool Remote)>();
        using var onA = a.Services.GetRequiredService<RunFeed>().Subscribe(null, u => { if (u.Event is StepReport s) feedOnA.Enqueue((s.Step, clock.Elapsed.TotalMilliseconds, u.Remote)); return Task.CompletedTask; });
        await using var viewer = a.RunsHubConnection();
        var batches = new ConcurrentQueue<(RunPoints Points, double At)>();
        viewer.On<RunPoints>(RunsHub.PointsMethod, p => batches.Enqueue((p, clock.Elapsed.TotalMilliseconds)));
        await viewer.StartAsync();
        await viewer.InvokeAsync(nameof(RunsHub.Watch), 1L);                  // the first run of a fresh database

        // Queued on A, handed out by B (its worker is idle): A says so over Redis.
        var run = await Runs(a).SubmitAsync(Tiny with { Epochs = 2, TrainLimit = 2000 }, "watched across replicas");
        Assert.Equal(1, run.Id);
        var done = await a.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));
        Assert.Equal(RunStatus.Completed, done.Status);
        await WaitUntil(() => batches.Any(p => p.Points.Status == RunStatus.Completed), TimeSpan.FromSeconds(10), "the viewer on A hears that the run completed");

        var recorded = (await Runs(a).HistoryAsync(run.Id))!.Metrics.Where(m => m.Scope == "step").Select(m => m.Step).Distinct().Order().ToList();
        Assert.Equal(recorded, batches.SelectMany(p => p.Points.Steps).Select(s => s.Step).ToList());   // every step, once, in order
        Assert.Equal(recorded, feedOnA.Select(f => f.Step).ToList());
        Assert.All(feedOnA, f => Assert.True(f.Remote));

        // The order holds under load too: a burst published on B as fast as it goes (a run of a few steps rarely
        // showed the bug, two updates overtaking each other on their way out of Redis into A's feed).
        var burst = new ConcurrentQueue<long>();
        using (a.Services.GetRequiredService<RunFeed>().Subscribe(999, u => { if (u.Event is StepReport s) burst.Enqueue(s.Step); return Task.CompletedTask; }))
        {
            var feedB = b.Services.GetRequiredService<RunFeed>();
            for (var step = 1; step <= 5000; step++)
                feedB.Publish(new RunUpdate(999, new StepReport(1, step, 5000, new Dictionary<string, double> { ["loss"] = step }, 0, TimeSpan.Zero, null)));
            await WaitUntil(() => burst.Count == 5000, TimeSpan.FromSeconds(30), "A's feed hears all 5000 updates of the burst");
        }
        Assert.Equal(Enumerable.Range(1, 5000).Select(i => (long)i), burst);

        // Once more, warm: the first dispatch includes the first use of the code paths on both replicas.
        var second = await Runs(a).SubmitAsync(Tiny, "second");
        var secondDone = await a.WaitForRunToFinish(second.Id, TimeSpan.FromMinutes(1));
        Assert.Equal(RunStatus.Completed, secondDone.Status);
        var dispatch = (secondDone.StartedAt!.Value - secondDone.CreatedAt).TotalMilliseconds;
        var hubDelays = batches.SelectMany(p => p.Points.Steps.Select(s => p.At - publishedOnB[s.Step])).Order().ToList();
        var feedDelays = feedOnA.Select(f => f.At - publishedOnB[f.Step]).Order().ToList();
        output.WriteLine($"dispatch, queued on A to started on B: {(done.StartedAt!.Value - done.CreatedAt).TotalMilliseconds:F0} ms the first time, {dispatch:F0} ms the second");
        output.WriteLine($"live-point delay, B's feed to the runs hub viewer on A (250 ms batches): median {hubDelays[hubDelays.Count / 2]:F0} ms, max {hubDelays[^1]:F0} ms, {hubDelays.Count} steps");
        output.WriteLine($"live-point delay, B's feed to A's feed (pages on A): median {feedDelays[feedDelays.Count / 2]:F1} ms, max {feedDelays[^1]:F1} ms");
        Assert.True(dispatch < RunDispatcher.PollInterval.TotalMilliseconds, $"dispatch across replicas took {dispatch:F0} ms: Redis did not carry the news, a poll found the run");
    }

    [SkippableFact]
    public async Task A_browser_on_one_replica_watches_a_run_trained_through_the_other()
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(2);
        var (a, b) = (cluster.Replicas[0], cluster.Replicas[1]);
        await cluster.StartProxyAsync([a.Address]);                            // the browser reaches A through YARP, as in scripts/cluster
        // It trains until cancelled, once the page has shown it running with live points: a run of fixed length (20
        // epochs, ≈ 10 s alone) could end before a page on a loaded core looked, which a full suite on one core showed.
        var run = await Runs(a).SubmitAsync(Tiny with { Epochs = RunConfig.MaxEpochs, TrainLimit = 10_000 }, "watched in a browser");
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(cluster.ProxyAddress!, $"/signin?token={VaeWebServer.AccessToken}&returnUrl=/signin").ToString());
        await page.GetByTestId("signin-done").WaitForAsync();
        await page.GotoAsync(new Uri(cluster.ProxyAddress!, $"/runs/{run.Id}").ToString());
        await Microsoft.Playwright.Assertions.Expect(page.GetByTestId("run-status")).ToHaveTextAsync("queued", new() { Timeout = 30_000 });

        cluster.StartWorker(b.Address, "worker-b");                           // the only worker, on the other replica
        await WaitUntil(async () => await EndToEndTests.StepPoints(page, run.Id) > 0 && await page.GetByTestId("run-status").TextContentAsync() == "running",
            TimeSpan.FromMinutes(1), "live points on A's page while the run trains on B");
        Assert.True(await Runs(a).CancelAsync(run.Id));
        await page.GetByTestId("run-status").Filter(new() { HasText = "cancelled" }).WaitForAsync(new() { Timeout = 120_000 });
        var stored = (await Runs(a).HistoryAsync(run.Id))!.Metrics.Where(m => m.Scope == "step" && m.Name == Metrics.Elbo).Count();
        await EndToEndTests.WaitForPointsAsync(page, run.Id, n => n == stored, $"all {stored} stored steps on the page");
        await EndToEndTests.AssertNoStepTwice(page, run.Id, "after the run, watched from the other replica");
        await Browser.Screenshot(page, "cluster-run-watched-from-the-other-replica");
    }

    [SkippableFact]
    public async Task A_run_training_through_one_replica_is_cancelled_from_the_other()
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(2);
        var (a, b) = (cluster.Replicas[0], cluster.Replicas[1]);
        cluster.StartWorker(b.Address, "worker-b");
        var run = await Runs(a).SubmitAsync(Tiny with { Epochs = 20, TrainLimit = 10_000 }, "cancelled from A");
        await WaitUntil(() => a.Services.GetRequiredService<RunFeed>().LatestStep(run.Id) is not null, TimeSpan.FromMinutes(1), "A hears of the run's steps");

        using var http = a.CreateClient();
        var cancel = await http.PostAsync($"/api/runs/{run.Id}/cancel", null);
        Assert.True(cancel.IsSuccessStatusCode, $"cancel answered {cancel.StatusCode}");
        var done = await a.WaitForRunToFinish(run.Id, TimeSpan.FromSeconds(30));
        Assert.Equal(RunStatus.Cancelled, done.Status);
        Assert.Contains(cluster.WorkerLog, l => l.Message == $"run {run.Id}: cancelled");
    }

    [SkippableFact]
    public async Task A_run_whose_replica_and_worker_both_die_is_marked_interrupted_by_the_other_replica()
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(1);
        var b = cluster.Replicas[0];
        var (a, aAddress) = await cluster.StartReplicaProcessAsync();
        cluster.StartWorker(aAddress, "worker-a");
        var run = await Runs(b).SubmitAsync(Tiny with { Epochs = 20, TrainLimit = 10_000 }, "orphan");
        await b.WaitForRun(run.Id, r => r.Status == RunStatus.Running, TimeSpan.FromMinutes(1), "A's worker takes the run");

        a.Kill();
        await a.WaitForExitAsync();
        await cluster.StopWorkerAsync("worker-a");
        var sinceKill = Stopwatch.StartNew();
        var interrupted = await b.WaitForRun(run.Id, r => r.Status != RunStatus.Running, WorkerLeases.Lifetime * 3, "B interrupts the orphaned run");
        output.WriteLine($"run {run.Id} marked {interrupted.Status} by replica B {sinceKill.Elapsed.TotalSeconds:F1} s after its replica and worker died (lease {WorkerLeases.Lifetime.TotalSeconds:F0} s)");
        Assert.Equal((RunStatus.Interrupted, WorkerLeases.WorkerLost), (interrupted.Status, interrupted.Error));
        Assert.True(interrupted.CanResume);
    }

    [SkippableTheory]
    [InlineData("KILL")]
    [InlineData("TERM")]
    public async Task A_replica_killed_or_stopped_mid_run_leaves_its_run_to_the_other_through_the_proxy(string signal)
    {
        Skip.If(services.Unavailable is not null, services.Unavailable);
        await using var cluster = new Cluster(services, output);
        await cluster.StartReplicasAsync(1);
        var b = cluster.Replicas[0];
        var (a, aAddress) = await cluster.StartReplicaProcessAsync();
        await cluster.StartProxyAsync([aAddress, b.Address]);
        // Through the proxy, round robin: one worker lands on each replica and stays there (the affinity cookie).
        var onB = b.Services.GetRequiredService<RunDispatcher>();
        cluster.StartWorker(cluster.ProxyAddress!, "worker-1");
        await WaitUntil(() => cluster.WorkerLog.Any(l => l.Message.StartsWith("connected")), TimeSpan.FromSeconds(30), "worker-1 connects");
        cluster.StartWorker(cluster.ProxyAddress!, "worker-2");
        await WaitUntil(() => cluster.WorkerLog.Count(l => l.Message.StartsWith("connected")) == 2, TimeSpan.FromSeconds(30), "worker-2 connects");
        await WaitUntil(() => onB.WorkerCount == 1, TimeSpan.FromSeconds(10), "one worker on each replica");

        var config = Tiny with { Epochs = 4, TrainLimit = 2000 };
        var runs = new List<Run>();
        for (var i = 0; i < 3; i++) runs.Add(await Runs(b).SubmitAsync(config with { Seed = i + 1 }, $"survivor {i + 1}"));
        // Kill A once the run its worker trains has saved an epoch: mid-run, with a checkpoint to resume from.
        Run? onA = null;
        await WaitUntil(async () => (onA = (await Runs(b).ListAsync()).FirstOrDefault(r => r.Status == RunStatus.Running && !onB.RunsTraining.Contains(r.Id))) is { EpochsDone: >= 1 },
            TimeSpan.FromMinutes(1), "A's worker saves an epoch");
        var orphan = onA!.Id;
        var sinceKill = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-s", signal, a.Id.ToString()])) await kill.WaitForExitAsync();
        var resumed = WaitUntil(() => cluster.WorkerLog.Any(l => l.Message.StartsWith($"run {orphan}: resuming after epoch")), TimeSpan.FromMinutes(1), "the run resumes through B")
            .ContinueWith(t => t.IsCompletedSuccessfully ? sinceKill.Elapsed : (TimeSpan?)null);
        await a.WaitForExitAsync();
        var exited = sinceKill.Elapsed;
        var left = (await Runs(b).FindAsync(onA!.Id))!;
        output.WriteLine($"replica A ({signal}) ended during run {left.Id} ({left.Status}, {left.EpochsDone} of {config.Epochs} epochs done)");
        var resumedAfter = await resumed;
        output.WriteLine($"run {left.Id} resumed through replica B {resumedAfter?.TotalSeconds:F1} s after the signal (replica A's process exited after {exited.TotalSeconds:F1} s)");

        foreach (var run in runs)
        {
            var done = await b.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(2));
            Assert.True((done.Status, done.EpochsDone) == (RunStatus.Completed, config.Epochs), $"run {run.Id} is {done.Status} after {done.EpochsDone} epochs: {done.Error}");
            await AssertStoredOnce(b, run.Id);
        }
        Assert.Contains(cluster.WorkerLog, l => l.Message.StartsWith($"run {left.Id}: resuming after epoch"));
        Assert.Equal(runs.Select(r => r.Id).Order(), cluster.FreshStarts().Order());    // none started twice
    }
}
