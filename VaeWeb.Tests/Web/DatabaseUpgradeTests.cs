using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>
/// Databases written before migrations (EnsureCreated, no __EFMigrationsHistory) open with today's server, which
/// baselines and migrates them. The fixture is a real database of release b7ab44a (see Fixtures/README.md).
/// </summary>
public class DatabaseUpgradeTests
{
    const string VaeGallery = "kPQWre3NqtHx", M2Gallery = "ed272pHVGyyi";

    /// <summary>A copy of the fixture in a fresh folder: the test must never change the committed file.</summary>
    static string CopyOfFixture()
    {
        var database = Path.Combine(TempFolders.Create("vaeweb-upgrade-").FullName, "vaeweb.db");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "vaeweb-b7ab44a.sqlite"), database);
        return database;
    }

    static async Task<List<string>> ColumnValues(string database, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync()) values.Add(reader.GetValue(0).ToString()!);
        return values;
    }

    [Fact]
    public async Task The_runs_test_elbo_becomes_the_kept_checkpoints_not_the_best_over_test_epochs()
    {
        // A third epoch, worse on the test set than the second: the old "best test ELBO" stays at epoch 2's −313.97,
        // the kept checkpoint (the latest) is epoch 3's.
        var database = CopyOfFixture();
        await ColumnValues(database, "INSERT INTO Metrics (RunId, Scope, Name, Epoch, Step, Value) VALUES (1, 'test', 'elbo', 3, 60, -320.5)");
        await using var server = VaeWebServer.Restart(database, embeddedWorker: false);
        using var http = server.CreateClient();
        var vae = await http.GetFromJsonAsync<JsonElement>("/api/runs/1");
        Assert.Equal(-320.5, vae.GetProperty("testElbo").GetDouble(), 3);
    }

    [Fact]
    public async Task A_database_of_the_release_before_migrations_keeps_its_runs_metrics_grids_and_galleries()
    {
        var database = CopyOfFixture();
        await using var server = VaeWebServer.Restart(database, embeddedWorker: false);
        using var http = server.CreateClient();

        var runs = await http.GetFromJsonAsync<JsonElement[]>("/api/runs");
        Assert.Equal(["fixture-m2", "fixture-vae"], runs!.Select(r => r.GetProperty("name").GetString()));
        Assert.All(runs!, r => Assert.Equal("completed", r.GetProperty("status").GetString()));
        Assert.Equal(-313.97, runs![1].GetProperty("testElbo").GetDouble(), 2);   // the last epoch's, which here was also the best
        Assert.Equal((73.0, 75.4), (runs[0].GetProperty("bestValidationError").GetDouble(), runs[0].GetProperty("testErrorAtBest").GetDouble()));

        var service = server.Services.GetRequiredService<RunService>();
        var vae = (await service.HistoryAsync(1))!;
        var m2 = (await service.HistoryAsync(2))!;
        Assert.Equal((132, 65), (vae.Metrics.Count, m2.Metrics.Count));
        Assert.Equal(["1 samples 10x10", "1 reconstructions 8x10", "2 samples 10x10", "2 reconstructions 8x10"],
            vae.Images.Select(i => $"{i.Epoch} {i.Kind} {i.Rows}x{i.Cols}"));
        Assert.All(vae.Images.Concat(m2.Images), i => Assert.Equal(i.Rows * i.Cols * i.Height * i.Width, i.Pixels.Length));

        var gallery = await http.GetFromJsonAsync<JsonElement>($"/api/galleries/{M2Gallery}");
        Assert.Equal("Completions of test digit 7 with the bottom erased, seed 2", gallery.GetProperty("title").GetString());
        Assert.Equal((2, 1, 6), (gallery.GetProperty("runId").GetInt64(), gallery.GetProperty("rows").GetInt32(), gallery.GetProperty("cols").GetInt32()));
        // Galleries made before their image size was stored get 28x28, what they are.
        Assert.Equal((28, 28), (gallery.GetProperty("height").GetInt32(), gallery.GetProperty("width").GetInt32()));
        Assert.Equal(("complete", 7, "bottom"), (gallery.GetProperty("request").GetProperty("view").GetString(),
            gallery.GetProperty("request").GetProperty("testIndex").GetInt32(), gallery.GetProperty("request").GetProperty("region").GetString()));
        Assert.Equal("m2", gallery.GetProperty("config").GetProperty("model").GetString());
        var png = await http.GetAsync($"/g/{M2Gallery}.png");
        Assert.Equal("image/png", png.Content.Headers.ContentType!.MediaType);
        foreach (var id in new[] { VaeGallery, M2Gallery })
        {
            var regenerated = await (await http.PostAsync($"/api/galleries/{id}/regenerate", null)).Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(regenerated.GetProperty("identical").GetBoolean(), regenerated.GetProperty("message").GetString());
        }
        // The checkpoints still load for exploring.
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/api/runs/1/explore", new { view = "samples" })).StatusCode);

        Assert.Contains(await ColumnValues(database, "SELECT MigrationId FROM __EFMigrationsHistory"), m => m.EndsWith("_Initial"));
    }

    [Fact]
    public async Task An_older_database_without_galleries_or_semi_supervised_columns_gets_them_and_keeps_its_data()
    {
        var database = CopyOfFixture();
        await ColumnValues(database, "DROP TABLE Galleries; ALTER TABLE Runs DROP COLUMN BestValidationError; ALTER TABLE Runs DROP COLUMN TestErrorAtBest; SELECT 1");

        await using (var server = VaeWebServer.Restart(database, embeddedWorker: false))
        {
            using var http = server.CreateClient();
            var runs = await http.GetFromJsonAsync<JsonElement[]>("/api/runs");
            Assert.Equal(2, runs!.Length);
            Assert.Equal(JsonValueKind.Null, runs[0].GetProperty("bestValidationError").ValueKind);
            Assert.Equal(132, (await server.Services.GetRequiredService<RunService>().HistoryAsync(1))!.Metrics.Count);
            var created = await http.PostAsJsonAsync("/api/runs/1/galleries", new { view = "samples", seed = 3, temperature = 0.8 });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        // A second start finds the history and applies nothing twice.
        await using (var again = VaeWebServer.Restart(database, embeddedWorker: false))
            Assert.Equal(2, (await again.CreateClient().GetFromJsonAsync<JsonElement[]>("/api/runs"))!.Length);
        Assert.Contains("BestValidationError", await ColumnValues(database, "SELECT name FROM pragma_table_info('Runs')"));
        Assert.Single(await ColumnValues(database, "SELECT Id FROM Galleries"));
    }

    [Fact]
    public async Task A_new_database_is_created_by_the_migrations_and_they_match_the_model()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        Assert.Equal("[]", await server.CreateClient().GetStringAsync("/api/runs"));
        var applied = await ColumnValues(server.Database, "SELECT MigrationId FROM __EFMigrationsHistory");
        await using var db = await server.Services.GetRequiredService<IDbContextFactory<VaeWebDb>>().CreateDbContextAsync();
        Assert.Equal(db.Database.GetMigrations(), applied);
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        // A model change without its migration fails here, with the command that makes it.
        Assert.False(db.Database.HasPendingModelChanges(),
            "VaeWebDb's model differs from the last migration: dotnet ef migrations add NAME --project VaeWeb.Server --output-dir Data/Migrations");
    }
}
