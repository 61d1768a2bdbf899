using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>VAE-GAN through the app in real Chromium: its γ in the form, the charts it declares, and a run that collapses.</summary>
public class VaeGanWebTests(Browser browser) : IClassFixture<Browser>
{
    /// <summary>Points per trace of the chart whose element id is <paramref name="id"/> (−1: no such chart).</summary>
    internal static Task<int[]> Points(IPage page, string id) =>
        page.EvaluateAsync<int[]>($"() => (document.getElementById('{id}')?.data ?? []).map(t => t.x.length)");

    [Fact]
    public async Task From_the_home_page_a_vae_gan_is_configured_with_its_gamma_started_and_charts_every_loss_and_the_discriminator()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "New run" }).First.ClickAsync();
        Assert.Equal("/runs/new", await Browser.AddressOnceShownAsync(page.GetByRole(AriaRole.Combobox, new() { Name = "Preset" })));
        await Assertions.Expect(page.GetByLabel("Gamma (γ)")).ToHaveCountAsync(0);           // the VAE has no γ
        var binarization = page.GetByRole(AriaRole.Combobox, new() { Name = "Binarization" });
        await Assertions.Expect(binarization).ToHaveCountAsync(1);                            // the VAE binarizes as the option says

        await page.GetByRole(AriaRole.Combobox, new() { Name = "Model" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "VAE-GAN (learned similarity)" }).ClickAsync();
        // Its only architecture is chosen with it, and its γ appears, validated by the engine's own rule.
        await Assertions.Expect(page.GetByRole(AriaRole.Combobox, new() { Name = "Architecture" })).ToContainTextAsync("convolutional");
        await Assertions.Expect(binarization).ToHaveCountAsync(0);                            // it trains on grey levels, whatever the option says
        var gamma = page.GetByLabel("Gamma (γ)");
        await gamma.FillAsync("0");
        await Assertions.Expect(page.GetByText("Gamma must be in (0, 1000] (got 0).").First).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start" })).ToBeDisabledAsync();
        await gamma.FillAsync("1");
        await Assertions.Expect(page.GetByTestId("form-errors")).ToHaveCountAsync(0);
        await page.GetByLabel("Name").FillAsync("e2e vae-gan");
        await page.GetByLabel("Epochs").FillAsync("2");
        await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
        await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("1000");
        await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("200");
        await Browser.Screenshot(page, "20-new-vae-gan-run");
        var runId = await Browser.StartRunAsync(page, server);

        // Live: the loss chart gets its first points while the run trains.
        await page.WaitForFunctionAsync($"() => document.getElementById('losses-{runId}')?.data?.[0]?.x?.length > 0", null, new() { Timeout = 60_000 });
        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 300_000 });
        var run = (await server.Services.GetRequiredService<RunService>().HistoryAsync(runId))!;
        Assert.Equal(1.0, run.Config.Gamma);
        Assert.Equal(ModelKind.VaeGan, run.Config.Model);

        // The charts the model declares, and no ELBO chart (a VAE-GAN has no likelihood).
        var stepsPerRun = 2 * 1000 / 100;
        await Browser.WaitForPointsAsync(page, server, $"discriminator-{runId}", trace: 3, points: 2);
        Assert.Equal([stepsPerRun, stepsPerRun, stepsPerRun, stepsPerRun], await Points(page, $"losses-{runId}"));     // encoder, decoder, its GAN part, discriminator
        Assert.Equal([stepsPerRun, stepsPerRun, 2, 2], await Points(page, $"vae-terms-{runId}"));                      // KL, L_llike per step and per epoch
        Assert.Equal([stepsPerRun, stepsPerRun, 2, 2], await Points(page, $"discriminator-{runId}"));                  // D(real), D(fake)
        Assert.Empty(await Points(page, $"elbo-{runId}"));
        var losses = await page.EvaluateAsync<double[]>($"() => document.getElementById('losses-{runId}').data.flatMap(t => t.y)");
        Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0, $"a loss of {l}"));
        var scores = await page.EvaluateAsync<double[]>($"() => document.getElementById('discriminator-{runId}').data.flatMap(t => t.y)");
        Assert.All(scores, s => Assert.InRange(s, 0, 1));
        Assert.Equal("log", await page.EvaluateAsync<string>($"() => document.getElementById('losses-{runId}').layout.yaxis.type"));
        await Assertions.Expect(page.GetByTestId("run-config")).ToContainTextAsync("γ (L_llike against the GAN loss)1");
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Browser.Screenshot(page, "21-vae-gan-run-completed");
    }

    [Fact]
    public async Task In_explore_a_vae_gan_and_a_conv_vae_of_the_same_size_decode_the_same_z_side_by_side()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        var tiny = new RunConfig { Arch = Architecture.Conv, Latent = 16, Epochs = 1, TrainLimit = 500, TestLimit = 100 };
        var vae = await runs.SubmitAsync(tiny, "conv vae z16");
        var gan = await runs.SubmitAsync(tiny with { Model = ModelKind.VaeGan, Gamma = 1, Binarize = Binarization.None }, "vae-gan z16");
        var smaller = await runs.SubmitAsync(tiny with { Latent = 8 }, "conv vae z8");
        foreach (var run in new[] { vae, gan, smaller })
        {
            var done = await server.WaitForRunToFinish(run.Id, TimeSpan.FromMinutes(3));
            Assert.True(done.Status == RunStatus.Completed, $"{run.Name}: {done.Status} {done.Error}");
        }

        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(new Uri(server.Address, $"/runs/{vae.Id}/explore").ToString());
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        var vaeSamples = await Pixels(page.GetByTestId("explore-samples"));

        await page.GotoAsync(new Uri(server.Address, $"/runs/{gan.Id}/explore").ToString());
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        await page.GetByRole(AriaRole.Combobox, new() { Name = "The same z through another run" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Option, new() { Name = "conv vae z8" })).ToHaveCountAsync(0);   // another latent size
        await page.GetByRole(AriaRole.Option, new() { Name = "conv vae z16 (vae)" }).ClickAsync();
        var compared = page.GetByTestId("explore-samples-compared");
        await Assertions.Expect(compared).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("compared-title")).ToContainTextAsync("The same z through conv vae z16 (vae, epoch 1)");
        // Beside the VAE-GAN's grid, the VAE's own samples at that seed and temperature, pixel for pixel: the same z.
        Assert.Equal(vaeSamples, await Pixels(compared));
        Assert.NotEqual(vaeSamples, await Pixels(page.GetByTestId("explore-samples")));
        await Browser.Screenshot(page, "23-vae-gan-and-vae-same-z");
    }

    static Task<string> Pixels(ILocator canvas) => canvas.EvaluateAsync<string>("c => c.toDataURL()");

    [Fact]
    public async Task A_diverging_vae_gan_fails_with_the_reason_on_its_page_and_the_next_run_is_unaffected()
    {
        await using var server = VaeWebServer.Start();
        var runs = server.Services.GetRequiredService<RunService>();
        // A learning rate of 1 fails within its first epoch: the issue's bar (step 1 with softplus conv networks, step 2
        // or so with ReLU). (The collapse of StabilityTests — the discriminator winning for 50 steps
        // at learning rate 0.01, γ 1000 — happens on one libtorch thread only; the embedded worker trains on all cores,
        // where that run recovers, so the page's collapse message is not tested here: it is the same failed-run path.)
        var nan = await runs.SubmitAsync(new RunConfig { Model = ModelKind.VaeGan, Arch = Architecture.Conv, LearningRate = 1, TrainLimit = 1000, TestLimit = 200, Epochs = 1 }, "vae-gan at lr 1");
        var healthy = await runs.SubmitAsync(new RunConfig { Epochs = 1, Hidden = [100], TrainLimit = 1000, TestLimit = 200 }, "a run after them");

        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(new Uri(server.Address, $"/runs/{nan.Id}").ToString());
        await page.GetByTestId("run-status").Filter(new() { HasText = "failed" }).WaitForAsync(new() { Timeout = 60_000 });
        await Assertions.Expect(page.GetByTestId("run-error")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"at step \d+ of epoch 1 "));
        await Assertions.Expect(page.GetByTestId("kept-checkpoint")).ToContainTextAsync("No epoch was completed");

        var after = await server.WaitForRunToFinish(healthy.Id, TimeSpan.FromMinutes(2));
        Assert.True(after.Status == RunStatus.Completed, $"{after.Status}: {after.Error}");
    }
}
