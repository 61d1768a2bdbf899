using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace VaeWeb.Server.Data;

/// <summary>
/// The model of <see cref="VaeWebDb"/> on PostgreSQL, for several server replicas sharing one database. Its migrations
/// are in Data/PostgresMigrations: <c>dotnet ef migrations add NAME --project VaeWeb.Server --context PostgresVaeWebDb
/// --output-dir Data/PostgresMigrations</c>.
/// </summary>
public sealed class PostgresVaeWebDb(DbContextOptions<PostgresVaeWebDb> options) : VaeWebDb(options);

/// <summary>What <c>dotnet ef</c> builds the PostgreSQL context with: making a migration never connects.</summary>
public sealed class PostgresVaeWebDbDesignTimeFactory : IDesignTimeDbContextFactory<PostgresVaeWebDb>
{
    public PostgresVaeWebDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresVaeWebDb>().UseNpgsql("Host=localhost;Database=vaeweb").Options);
}

/// <summary>The app asks for <see cref="VaeWebDb"/>; on PostgreSQL it gets the PostgreSQL context.</summary>
sealed class PostgresDbFactory(IDbContextFactory<PostgresVaeWebDb> postgres) : IDbContextFactory<VaeWebDb>
{
    public VaeWebDb CreateDbContext() => postgres.CreateDbContext();
}
