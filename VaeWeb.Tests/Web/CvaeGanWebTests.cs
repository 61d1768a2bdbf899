using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>A CVAE-GAN trained by the app's worker: the explore API restyles and completes with it, as with the CVAE (issue 14).</summary>
public class CvaeGanWebTests
{
    [Fact]
    public async Task A_trained_cvae_gan_samples_a_row_per_class_restyles_and_completes_through_the_explore_api()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        var run = await runs.SubmitAsync(new RunConfig
        {
            Model = ModelKind.CvaeGan, Arch = Architecture.Conv, Gamma = 1, Latent = 16, Epochs = 1, TrainLimit = 500, TestLimit = 100, BatchSize = 50,
        }, "explore cvae-gan");
        var done = await server.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(3));
        Assert.True(done.Status == RunStatus.Completed, $"{done.Status}: {done.Error}");

        using var http = server.CreateClient();
        async Task<JsonElement> Explore(object request)
        {
            var response = await http.PostAsJsonAsync($"/api/runs/{run.Id}/explore", request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request}: {response.StatusCode} {text}");
            return JsonDocument.Parse(text).RootElement;
        }
        static (int, int) Shape(JsonElement grid) => (grid.GetProperty("rows").GetInt32(), grid.GetProperty("cols").GetInt32());

        Assert.Equal((10, 10), Shape(await Explore(new { view = "samples", seed = 1, temperature = 1 })));   // a row per class
        Assert.Equal((1, 11), Shape(await Explore(new { view = "restyle", testIndex = 7 })));                  // the digit, then classes 0–9
        var completed = await Explore(new { view = "complete", testIndex = 4, region = "bottom", count = 2 });
        Assert.Equal((1, 4), Shape(completed));
        var pixels = completed.GetProperty("pixels").GetBytesFromBase64();
        for (int i = 0; i < 14 * 28; i++) Assert.Equal(pixels[i], pixels[2 * 784 + i]);                // the top half kept
    }
}
