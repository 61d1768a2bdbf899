using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Engine;

namespace VaeWeb.Server.Runs;

/// <summary>
/// Replicas (Engine:Redis set): what a replica's <see cref="RunFeed"/> publishes goes to the others over a Redis channel
/// and into their feeds marked remote, so a run page (a Blazor circuit, which lives on one replica) shows the live
/// points of a run whose worker is connected to another, and a run queued on one replica is handed out at once by any
/// replica with an idle worker. The runs hub needs none of this: SignalR's Redis backplane carries its batches.
/// </summary>
public sealed class RunFeedRelay(RunFeed feed, RunDispatcher dispatcher, IConnectionMultiplexer redis, IOptions<EngineOptions> options, ILogger<RunFeedRelay> log) : IHostedService
{
    readonly RedisChannel Channel = RedisChannel.Literal(options.Value.RedisPrefix + "run-updates");
    readonly string _origin = Guid.NewGuid().ToString("N");
    IDisposable? _subscription;
    ChannelMessageQueue? _queue;

    sealed record Relayed(string Origin, RunUpdate Update);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var subscriber = redis.GetSubscriber();
        // A queue, not a handler: StackExchange.Redis runs handlers concurrently, so step 8 could overtake step 7 on
        // its way into this replica's feed; a queue hands messages over one at a time, in the order Redis sent them.
        _queue = await subscriber.SubscribeAsync(Channel);
        _queue.OnMessage(message =>
        {
            var relayed = JsonSerializer.Deserialize<Relayed>((string)message.Message!, RunConfig.Json);
            if (relayed is null || relayed.Origin == _origin) return;
            feed.Publish(relayed.Update with { Remote = true });
            if (relayed.Update.Status == RunStatus.Queued) _ = AssignAsync();
        });
        _subscription = feed.Subscribe(null, async update =>
        {
            if (!update.Remote) await subscriber.PublishAsync(Channel, JsonSerializer.Serialize(new Relayed(_origin, update), RunConfig.Json), CommandFlags.FireAndForget);
        });
    }

    async Task AssignAsync()
    {
        try { await dispatcher.AssignAsync(); }
        catch (Exception e) { log.LogWarning(e, "Handing out a run queued on another replica failed"); }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        if (_queue is not null) await _queue.UnsubscribeAsync();
    }
}
