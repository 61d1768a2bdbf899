using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>
/// CVAE-GAN and DRAW-GAN the way a person reaches them in real Chromium: from the home page, a preset in the new-run
/// form, shortened to seconds, started, watched to the end, then explored.
/// </summary>
public class GanPresetsWebTests(Browser browser) : IClassFixture<Browser>
{

    /// <summary>Home → New run → the preset, with 2 epochs of 1,000 digits and 200 test digits; returns the run's id once it has completed.</summary>
    static async Task<long> StartFromPreset(IPage page, VaeWebServer server, string preset, string name, Func<IPage, Task>? adjust = null)
    {
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "New run" }).First.ClickAsync();
        Assert.Equal("/runs/new", await Browser.AddressOnceShownAsync(page.GetByRole(AriaRole.Combobox, new() { Name = "Preset" })));
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Preset" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = preset }).ClickAsync();
        await page.GetByLabel("Name").FillAsync(name);
        await page.GetByLabel("Epochs").FillAsync("2");
        await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
        await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("1000");
        await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("200");
        if (adjust is not null) await adjust(page);
        await Assertions.Expect(page.GetByTestId("form-errors")).ToHaveCountAsync(0);
        var runId = await Browser.StartRunAsync(page, server);
        await page.WaitForFunctionAsync($"() => document.getElementById('losses-{runId}')?.data?.[0]?.x?.length > 0", null, new() { Timeout = 120_000 });
        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 300_000 });
        return runId;
    }

    [Fact]
    public async Task The_cvae_gan_preset_trains_charts_every_network_and_restyles_and_completes_in_explore()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        var runId = await StartFromPreset(page, server, "CVAE-GAN", "e2e cvae-gan", async form =>
        {
            await Assertions.Expect(form.GetByRole(AriaRole.Combobox, new() { Name = "Binarization" })).ToHaveCountAsync(0);   // grey levels
            await Assertions.Expect(form.GetByLabel("Gamma (γ)")).ToHaveValueAsync("1");
            await Assertions.Expect(form.GetByLabel("Hidden sizes")).ToHaveCountAsync(0);                         // conv networks only
        });
        var run = (await server.Services.GetRequiredService<RunService>().HistoryAsync(runId))!;
        Assert.Equal(ModelKind.CvaeGan, run.Config.Model);

        // Every network's loss per step (encoder, decoder, its GAN part, discriminator) and D's mean outputs, live and per epoch.
        var steps = 2 * 1000 / 100;
        await Browser.WaitForPointsAsync(page, server, $"discriminator-{runId}", trace: 3, points: 2);
        Assert.Equal([steps, steps, steps, steps], await VaeGanWebTests.Points(page, $"losses-{runId}"));
        Assert.Equal([steps, steps, 2, 2], await VaeGanWebTests.Points(page, $"discriminator-{runId}"));
        var scores = await page.EvaluateAsync<double[]>($"() => document.getElementById('discriminator-{runId}').data.flatMap(t => t.y)");
        Assert.All(scores, s => Assert.InRange(s, 0, 1));
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("run-config")).Not.ToContainTextAsync("hidden sizes");
        await Browser.Screenshot(page, "40-cvae-gan-run");

        // Explore: conditional with an encoder, so it restyles a test digit into every class and completes a half-erased one.
        await page.GetByTestId("explore-link").ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        var tabs = (await page.GetByRole(AriaRole.Tab).AllTextContentsAsync()).Select(t => t.Trim()).ToList();
        Assert.Contains("Restyle", tabs);
        Assert.Contains("Complete", tabs);
        await page.GetByRole(AriaRole.Tab, new() { Name = "Restyle" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Restyle", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-restyle")).ToHaveAttributeAsync("data-drawn", "11");   // the digit and one per class
        await Browser.Screenshot(page, "41-cvae-gan-restyle");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Complete" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Complete", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-complete")).ToHaveAttributeAsync("data-drawn", "8");   // original, masked, six completions
        await Assertions.Expect(page.GetByTestId("explore-error")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_draw_gan_preset_trains_charts_its_bound_and_discriminator_and_plays_its_drawing()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        var runId = await StartFromPreset(page, server, "DRAW-GAN, 90 minutes", "e2e draw-gan", async form =>
        {
            await Assertions.Expect(form.GetByLabel("Adversarial weight (λ)")).ToHaveValueAsync("1");
            await Assertions.Expect(form.GetByLabel("Steps T")).ToHaveValueAsync("16");
            await form.GetByLabel("Steps T").FillAsync("6");                  // seconds, not minutes, on a loaded core
        });
        var run = (await server.Services.GetRequiredService<RunService>().HistoryAsync(runId))!;
        Assert.Equal((ModelKind.DrawGan, 6, 90.0), (run.Config.Model, run.Config.DrawSteps, run.Config.MaxMinutes));

        // DRAW's bound (it keeps a likelihood), each network's loss, and D's mean outputs.
        var steps = 2 * 1000 / 100;
        await Browser.WaitForPointsAsync(page, server, $"discriminator-{runId}", trace: 3, points: 2);
        Assert.Equal([steps, steps, steps], await VaeGanWebTests.Points(page, $"losses-{runId}"));
        Assert.Equal([steps, steps, 2, 2], await VaeGanWebTests.Points(page, $"discriminator-{runId}"));
        Assert.Contains(2, await VaeGanWebTests.Points(page, $"elbo-{runId}"));
        var losses = await page.EvaluateAsync<double[]>($"() => document.getElementById('losses-{runId}').data.flatMap(t => t.y)");
        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"a loss of {l}"));
        await Assertions.Expect(page.GetByTestId("run-config")).ToContainTextAsync("λ (GAN loss against DRAW's −ELBO)1");
        await Assertions.Expect(page.GetByTestId("run-config")).ToContainTextAsync("hidden sizes256");               // DRAW's LSTMs

        // Its samples are DRAW's canvases: the grid, and the drawing in 6 steps.
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("samples-animation")).ToHaveAttributeAsync("data-steps", "6");
        await Browser.Screenshot(page, "42-draw-gan-run");
    }
}
