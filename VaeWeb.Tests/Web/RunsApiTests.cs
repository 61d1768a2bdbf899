using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace VaeWeb.Tests.Web;

public class RunsApiTests
{
    [Fact]
    public async Task Invalid_configs_are_rejected_with_a_message_per_field_and_nothing_is_queued()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();

        var response = await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1_000_000_000, hidden = new[] { 500, 1_000_000 }, learningRate = 0 } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors");
        Assert.Contains("Epochs must be between 1 and 1000", errors.GetProperty("Epochs")[0].GetString());
        Assert.Contains("(got 1000000)", errors.GetProperty("Hidden")[0].GetString());
        Assert.Contains("Learning rate", errors.GetProperty("LearningRate")[0].GetString());
        Assert.Equal("[]", await http.GetStringAsync("/api/runs"));
    }

    [Fact]
    public async Task Malformed_json_and_unknown_runs_are_client_errors()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();

        var malformed = await http.PostAsync("/api/runs", new StringContent("{\"config\": {\"epochs\": \"many\"}}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/runs/999")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/runs/999/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync("/api/runs/999")).StatusCode);
    }

    [Fact]
    public async Task Health_endpoint_reports_the_database_and_workers()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();
        var response = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }
}

public class SqliteConcurrencyTests
{
    /// <summary>
    /// Once in a full suite a run's end could not be recorded for 30 s ("database is locked") and the run stayed
    /// "running". In SQLite's rollback journal a write waits for every open read to end; in write-ahead logging it does
    /// not. Here a reader keeps a read transaction open (as a page streaming a long query does) while the server
    /// records the end of a run.
    /// </summary>
    [Fact]
    public async Task Recording_a_runs_end_does_not_wait_for_an_open_read()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();
        var created = await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1, trainLimit = 1000, testLimit = 200 } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var runId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();

        await using var reader = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={server.Database};Pooling=False");
        await reader.OpenAsync();
        await using var read = reader.BeginTransaction(deferred: true);
        await using (var count = reader.CreateCommand())
        {
            count.CommandText = "SELECT COUNT(*) FROM Runs";
            Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);           // the read lock is taken here and kept
        }

        var recorder = server.Services.GetRequiredService<VaeWeb.Server.Runs.RunRecorder>();
        var finish = recorder.FinishAsync(runId, VaeWeb.Server.Data.RunStatus.Failed, "ended by the test");
        Assert.Same(finish, await Task.WhenAny(finish, Task.Delay(TimeSpan.FromSeconds(10))));
        await finish;
        var run = await http.GetFromJsonAsync<JsonElement>($"/api/runs/{runId}");
        Assert.Equal("failed", run.GetProperty("status").GetString(), ignoreCase: true);
    }
}
