using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Worker;

namespace VaeWeb.Server.Engine;

/// <summary>
/// The default single-machine setup: an engine worker inside the server process that connects to the engine hub over
/// loopback, exactly as a remote `VaeWeb.Engine worker` would.
/// </summary>
public sealed class EmbeddedWorker(IServer server, IHostApplicationLifetime lifetime, WorkerToken token, IOptions<EngineOptions> options,
    DataFolder data, DatasetCache datasets, ILogger<EmbeddedWorker> log) : BackgroundService
{
    static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!options.Value.EmbeddedWorker) return;
        // The listening address (and port, when it is 0) is known only once the server has started.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(started.SetResult))
        using (stopping.Register(() => started.TrySetCanceled()))
        {
            try { await started.Task; }
            catch (TaskCanceledException) { return; }
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The server has no listening address for the embedded worker.");
        var loopback = new UriBuilder(address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://[::1]")).Uri;
        log.LogInformation("Starting the embedded engine worker against {Address}. Remote workers: VaeWeb.Engine worker --server {Address} --token <the token in {TokenFile}>",
            loopback, loopback, Path.Combine(data.Root, "worker-token"));
        // A worker that fails must not take the server down with it (a background service's exception stops the host):
        // the error is logged and a new worker connects; its run, if any, was marked interrupted when it dropped.
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var worker = new EngineWorker(loopback, token.Value, data.Runs, datasets, m => log.LogInformation("{WorkerMessage}", m)) { Name = "embedded" };
                await worker.RunAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { return; }
            catch (UnauthorizedAccessException e)
            {
                log.LogError(e, "The embedded worker was refused by its own server; it stays stopped (check Engine:WorkerToken)");
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "The embedded worker stopped with an error; a new one connects in {Delay} s", RestartDelay.TotalSeconds);
            }
            try { await Task.Delay(RestartDelay, stopping); }
            catch (OperationCanceledException) { return; }
        }
    }
}
