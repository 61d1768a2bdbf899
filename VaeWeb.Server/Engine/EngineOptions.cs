namespace VaeWeb.Server.Engine;

/// <summary>Configuration section "Engine".</summary>
public sealed class EngineOptions
{
    /// <summary>Shared secret workers present; empty = generate one at first start and keep it in data/worker-token.</summary>
    public string WorkerToken { get; set; } = "";
    /// <summary>Start a worker inside the server process (the default: one machine, CPU, no setup).</summary>
    public bool EmbeddedWorker { get; set; } = true;
    /// <summary>Datasets, the database and run folders; empty = the engine's default data folder.</summary>
    public string DataDirectory { get; set; } = "";
    /// <summary>
    /// SQLite database file (empty = vaeweb.db in the data folder), or a PostgreSQL connection string ("Host=…;Database=…"),
    /// which several server replicas can share.
    /// </summary>
    public string Database { get; set; } = "";
    /// <summary>Redis ("host:port", StackExchange.Redis syntax) as SignalR's backplane between server replicas; empty = one server.</summary>
    public string Redis { get; set; } = "";

    /// <summary>A connection string names its keys ("Host=…"); anything else is a SQLite file.</summary>
    public bool UsesPostgres => IsPostgres(Database);

    /// <summary>
    /// Replicas: PostgreSQL and Redis. A run's fate is then not one replica's to decide when its worker's connection
    /// drops: the worker may be training on through another replica (see RunDispatcher and WorkerLeases).
    /// </summary>
    public bool Replicated => UsesPostgres && Redis.Length > 0;

    /// <summary>
    /// What this app's Redis channels and keys start with: the replicas of one database share them, and apps on another
    /// database (another cluster, another test) sharing the Redis never see them.
    /// </summary>
    public string RedisPrefix => $"vaeweb:{(UsesPostgres && new Npgsql.NpgsqlConnectionStringBuilder(Database) is var c ? $"{c.Host}:{c.Port}/{c.Database}" : Database)}:";

    public static bool IsPostgres(string database) => database.TrimStart().StartsWith("Host=", StringComparison.OrdinalIgnoreCase);
    /// <summary>Run folders of the embedded worker; empty = runs/ in the data folder.</summary>
    public string RunsDirectory { get; set; } = "";
    /// <summary>At startup, resume the runs that a server stop or crash interrupted (off: they wait for a Resume click).</summary>
    public bool AutoResume { get; set; }
}
