using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Server.Runs;
using VaeWeb.Tests.Models;

namespace VaeWeb.Tests.Web;

public class ExtraModelTests
{
    [Fact]
    public async Task A_model_registered_from_outside_the_engine_trains_through_the_api_stores_its_loss_terms_and_samples()
    {
        LinearVae.Register();
        await using var server = VaeWebServer.Start();
        using var http = server.CreateClient();

        var created = await http.PostAsJsonAsync("/api/runs", new
        {
            name = "linear vae",
            config = new { model = LinearVae.Name, epochs = 2, latent = 4, learningRate = 0.01, trainLimit = 2000, testLimit = 200 },
        });
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        string status = "";
        for (int i = 0; i < 600 && status is not ("completed" or "failed"); i++)
        {
            await Task.Delay(100);
            status = (await http.GetFromJsonAsync<JsonElement>($"/api/runs/{id}")).GetProperty("status").GetString()!;
        }
        Assert.True(status == "completed", $"run {status}: {(await http.GetFromJsonAsync<JsonElement>($"/api/runs/{id}")).GetProperty("error")}");

        // Its own loss terms, per step and per epoch, as the model named them.
        var history = (await server.Services.GetRequiredService<RunService>().HistoryAsync(id))!;
        Assert.Equal(LinearVae.Name, history.Config.Model);
        // The test set also scores its samples when this data folder has the classifier (see SampleQuality).
        var dataFolder = server.Services.GetRequiredService<VaeWeb.Engine.Data.DatasetCache>().Directory;
        string[] quality = File.Exists(VaeWeb.Engine.Quality.DigitClassifier.FileFor(dataFolder, "mnist"))
            ? [VaeWeb.Engine.Quality.SampleQuality.Confidence, VaeWeb.Engine.Quality.SampleQuality.Confident, VaeWeb.Engine.Quality.SampleQuality.Frechet]
            : [];
        foreach (var scope in new[] { "step", "train", "test" })
            Assert.Equal(new[] { "kl", "nll" }.Concat(scope == "test" ? quality : []).Order(), history.Metrics.Where(m => m.Scope == scope).Select(m => m.Name).Distinct().Order());
        var testNll = history.Metrics.Where(m => m.Scope == "test" && m.Name == "nll").OrderBy(m => m.Epoch).Select(m => m.Value).ToList();
        Assert.Equal(2, testNll.Count);
        Assert.True(testNll[1] < testNll[0] - 20, $"test −log p(x|z) {testNll[0]:F1} → {testNll[1]:F1}");

        // Sampled through the explore API: a 10x10 grid of distinct images.
        var response = await http.PostAsJsonAsync($"/api/runs/{id}/explore", new { view = "samples", seed = 3, temperature = 1.0 });
        response.EnsureSuccessStatusCode();
        var grid = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((10, 10), (grid.GetProperty("rows").GetInt32(), grid.GetProperty("cols").GetInt32()));
        var pixels = grid.GetProperty("pixels").GetBytesFromBase64();
        Assert.Equal(100 * 784, pixels.Length);
        Assert.NotEqual(pixels[..784], pixels[784..(2 * 784)]);
    }
}
