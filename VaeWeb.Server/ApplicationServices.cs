using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using StackExchange.Redis;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Access;
using VaeWeb.Server.Catalog;
using VaeWeb.Server.Components;
using VaeWeb.Server.Data;
using VaeWeb.Server.Engine;
using VaeWeb.Server.Runs;
using VaeWeb.Server.Explore;
using VaeWeb.Server.Galleries;

namespace VaeWeb.Server;

/// <summary>
/// Where the app keeps its files: datasets, the database (a SQLite file's full path, or a PostgreSQL connection string),
/// the worker token, run folders.
/// </summary>
public sealed record DataFolder(string Root, string Database, string Runs)
{
    public string Datasets => Root;
}

public static class ApplicationServices
{
    public static WebApplicationBuilder AddApplicationServices(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<EngineOptions>().BindConfiguration("Engine");
        services.AddOptions<RunQueueOptions>().BindConfiguration("Engine");
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EngineOptions>>().Value;
            var root = options.DataDirectory.Length > 0 ? Path.GetFullPath(options.DataDirectory) : Datasets.DefaultDirectory();
            return new DataFolder(root,
                options.UsesPostgres ? options.Database : options.Database.Length > 0 ? Path.GetFullPath(options.Database) : Path.Combine(root, "vaeweb.db"),
                options.RunsDirectory.Length > 0 ? Path.GetFullPath(options.RunsDirectory) : Path.Combine(root, "runs"));
        });
        services.AddSingleton(sp => WorkerToken.LoadOrCreate(sp.GetRequiredService<IOptions<EngineOptions>>().Value, sp.GetRequiredService<DataFolder>().Root));
        var engine = builder.Configuration.GetSection("Engine").Get<EngineOptions>() ?? new();
        if (engine.UsesPostgres)
        {
            services.AddDbContextFactory<PostgresVaeWebDb>((sp, db) => db.UseNpgsql(sp.GetRequiredService<DataFolder>().Database));
            services.AddSingleton<IDbContextFactory<VaeWebDb>, PostgresDbFactory>();
        }
        else services.AddDbContextFactory<VaeWebDb>((sp, db) => db.UseSqlite($"Data Source={sp.GetRequiredService<DataFolder>().Database}"));

        builder.AddAccessControl();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, WorkerAuthenticationHandler>(WorkerAuthenticationHandler.SchemeName, null);
        services.AddRateLimits();
        // Every hub keeps SignalR's 32 KB message limit (the Blazor circuits' hub is open to every browser), except the
        // workers' hub: an epoch's image grids are ≈ 200 KB, and checkpoints arrive streamed in chunks below its limit.
        var signalR = services.AddSignalR().AddHubOptions<EngineHub>(o => o.MaximumReceiveMessageSize = WorkerProtocol.MaximumMessageBytes);
        // Several replicas: Redis carries every hub's group and client messages between them (a viewer connected to one
        // replica gets the points of a run whose worker is connected to another).
        if (engine.Redis.Length > 0)
        {
            signalR.AddStackExchangeRedis(engine.Redis, o => o.Configuration.ChannelPrefix = RedisChannel.Literal(engine.RedisPrefix));
            // The run updates between replicas (RunFeedRelay), and the keys that protect sign-in cookies and antiforgery
            // tokens, which every replica must share (they may run on different machines).
            var redis = new Lazy<IConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(engine.Redis));
            services.AddSingleton(_ => redis.Value);
            services.AddDataProtection().SetApplicationName("VaeWeb").PersistKeysToStackExchangeRedis(() => redis.Value.GetDatabase(), engine.RedisPrefix + "data-protection-keys");
        }

        services.AddSingleton<RunFeed>();
        services.AddHostedService<RunBroadcaster>();
        services.AddSingleton<RunRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<RunRecorder>());
        services.AddSingleton<RunDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<RunDispatcher>());
        if (engine.Redis.Length > 0)
        {
            services.AddHostedService<RunFeedRelay>();
            services.AddHostedService<WorkerLeases>();
        }
        services.AddSingleton<RunService>();
        services.AddHostedService<EmbeddedWorker>();
        // One copy of each dataset in memory, for the embedded worker's training and for exploring.
        services.AddSingleton(sp => new DatasetCache(sp.GetRequiredService<DataFolder>().Datasets));
        services.AddSingleton<ExploreService>();
        // The Data page: every dataset's state, checksums computed once, and SVHN uploads into data/svhn.
        services.AddSingleton(new SvhnOptions());                                 // the official files (tests register their own after)
        services.AddSingleton<DatasetCatalog>();
        services.AddSingleton<SvhnUpload>();
        services.AddSingleton<GalleryService>();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
        services.AddProblemDetails();
        services.AddExceptionHandler<ClientErrorHandler>();
        // The API speaks the engine's JSON: camelCase fields, enums as "fc", "conv", "dynamic".
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower)));

        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddMudServices();
        return builder;
    }

    /// <summary>
    /// Creates or migrates the database (see <see cref="DatabaseMigration"/>), marks runs a previous process left
    /// "running" as interrupted, and with Engine:AutoResume queues the runs a stop interrupted to continue.
    /// </summary>
    public static async Task PrepareDatabaseAsync(this WebApplication app)
    {
        var dbs = app.Services.GetRequiredService<IDbContextFactory<VaeWebDb>>();
        var options = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
        if (!options.UsesPostgres) Directory.CreateDirectory(Path.GetDirectoryName(app.Services.GetRequiredService<DataFolder>().Database)!);
        await using var db = await dbs.CreateDbContextAsync();
        await db.MigrateAsync(app.Logger);
        // Replicas: other replicas may be training the runs marked running. A run is left to its worker, which on
        // reconnecting to any replica gets it back to resume (RunDispatcher), or to its lease (WorkerLeases).
        var orphans = options.Replicated ? new List<Run>() : await db.Runs.Where(r => r.Status == RunStatus.Running).ToListAsync();
        foreach (var run in orphans)
        {
            run.Status = RunStatus.Interrupted;
            run.FinishedAt = DateTime.UtcNow;
            run.Error = RunDispatcher.ServerStopped;
        }
        await db.SaveChangesAsync();
        if (orphans.Count > 0) app.Logger.LogWarning("Marked {Count} runs left running by the previous server process as interrupted", orphans.Count);
        if (options.AutoResume)
            await app.Services.GetRequiredService<RunService>().ResumeInterruptedByStopAsync();
    }

    public static WebApplication MapApplication(this WebApplication app)
    {
        // In every environment: clients never get a stack trace (see ClientErrorHandler); pages get /Error.
        app.UseExceptionHandler("/Error", createScopeForErrors: true);
        // Friendly error pages are for people browsing; the API and the hub answer with their own status codes.
        app.UseWhen(c => HttpMethods.IsGet(c.Request.Method) && !c.Request.Path.StartsWithSegments("/api") && !c.Request.Path.StartsWithSegments("/hubs"),
            pages => pages.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
        app.UseSameOriginWrites();
        app.UseUtf8Json();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseAntiforgery();
        app.MapStaticAssets().AllowAnonymous();                             // app.css, _content/, and /vaeweb/ (the top-level wwwroot)
        app.MapHub<EngineHub>(WorkerProtocol.HubPath);
        app.MapHub<RunsHub>(RunsHub.Path);
        app.MapRunsApi();
        app.MapExploreApi();
        app.MapGalleriesApi();
        app.MapHealthChecks("/health").AllowAnonymous();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();   // the Blazor hub (/_blazor) too needs the owner
        app.PrintSignInUrl();
        return app;
    }
}

/// <summary>Healthy when the database answers.</summary>
public sealed class DatabaseHealthCheck(IDbContextFactory<VaeWebDb> dbs, RunDispatcher dispatcher) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await using var db = await dbs.CreateDbContextAsync(cancellationToken);
        return await db.Database.CanConnectAsync(cancellationToken)
            ? HealthCheckResult.Healthy($"{dispatcher.WorkerCount} worker(s) connected")
            : HealthCheckResult.Unhealthy("The database cannot be opened.");
    }
}
