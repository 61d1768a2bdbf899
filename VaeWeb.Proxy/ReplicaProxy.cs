using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.SessionAffinity;
using Yarp.ReverseProxy.Transforms;

namespace VaeWeb.Proxy;

/// <summary>
/// YARP in front of VaeWeb.Server replicas. Sticky sessions: a client's first request goes to the next replica in turn
/// and an affinity cookie keeps the client there, as a Blazor circuit and a SignalR connection's negotiate-then-connect
/// need (the .NET SignalR client keeps cookies too). Each replica's /health is probed every second; a client whose
/// replica stops answering is sent to another (a worker reconnects there and continues its run). The Host header is
/// kept, so the app's same-origin checks see its public address.
/// </summary>
public static class ReplicaProxy
{
    public const string AffinityCookie = ".VaeWeb.Replica";

    /// <summary>The proxy app: its listening address from the usual <c>--urls</c>, the replicas' base URLs from <paramref name="replicas"/>.</summary>
    public static WebApplication Build(string[] args, IReadOnlyList<string> replicas)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "vaeweb", ClusterId = "replicas", Match = new() { Path = "{**rest}" } }.WithTransformUseOriginalHostHeader()],
            [new ClusterConfig
            {
                ClusterId = "replicas",
                Destinations = replicas.Select((address, i) => (address, i)).ToDictionary(r => $"replica-{r.i + 1}", r => new DestinationConfig { Address = r.address }),
                LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
                SessionAffinity = new() { Enabled = true, Policy = SessionAffinityConstants.Policies.HashCookie, AffinityKeyName = AffinityCookie },
                HealthCheck = new()
                {
                    Active = new()
                    {
                        Enabled = true, Interval = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromSeconds(2), Path = "/health",
                        Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures,
                    },
                },
            }]);
        var app = builder.Build();
        app.MapReverseProxy();
        return app;
    }

    public static void Main(string[] args)
    {
        // dotnet VaeWeb.Proxy.dll --urls http://localhost:5298 --replicas http://localhost:5301,http://localhost:5302
        var replicas = new ConfigurationBuilder().AddCommandLine(args).Build()["replicas"]?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (replicas is not { Length: > 0 })
        {
            Console.Error.WriteLine("usage: VaeWeb.Proxy --urls http://HOST:PORT --replicas http://REPLICA1,http://REPLICA2");
            Environment.Exit(2);
        }
        Build(args, replicas).Run();
    }
}
