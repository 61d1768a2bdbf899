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
