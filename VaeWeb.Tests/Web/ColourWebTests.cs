using Microsoft.Playwright;
using VaeWeb.Engine.Data;
using Xunit.Abstractions;

namespace VaeWeb.Tests.Web;

/// <summary>
/// A colour model from the home page in real Chromium (issue 16, item 3): New run → Coloured MNIST + conv VAE → Start →
/// the run page draws its samples in colour, and Explore's Draw tab says drawing is MNIST-only.
/// </summary>
public class ColourWebTests(Browser browser, ITestOutputHelper output) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_conv_vae_on_coloured_mnist_started_from_the_home_page_draws_its_samples_in_colour()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByLabel("New run").ClickAsync();                            // the app bar's link
        Assert.Equal("/runs/new", await Browser.AddressOnceShownAsync(page.GetByRole(AriaRole.Combobox, new() { Name = "Preset" })));

        await page.GetByLabel("Name").FillAsync("colour conv vae");
        // Binarization is offered on a grey set, not on a colour one.
        await Assertions.Expect(page.GetByRole(AriaRole.Combobox, new() { Name = "Binarization" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Dataset" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = ColouredMnist.Title }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Combobox, new() { Name = "Binarization" })).ToHaveCountAsync(0);
        // Grey-only models are offered but disabled, saying why.
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Model" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Option, new() { Name = "DRAW (recurrent, attention) (28×28 grey only)" })).ToBeDisabledAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "VAE", Exact = true }).ClickAsync();
        // The conv networks' hidden units are a choice of the conv architecture only.
        var units = page.GetByRole(AriaRole.Combobox, new() { Name = "Conv hidden units" });
        await Assertions.Expect(units).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Architecture" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "convolutional" }).ClickAsync();
        await Assertions.Expect(units).ToBeVisibleAsync();
        await page.GetByLabel("Latent size").FillAsync("16");
        await page.GetByLabel("Epochs").FillAsync("2");
        await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
        await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("2000");
        await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("500");
        await Browser.Screenshot(page, "colour-1-new-run-form");
        await Browser.StartRunAsync(page, server);
        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 240_000 });
        var samples = page.GetByTestId("samples-grid");
        await Assertions.Expect(samples).ToHaveAttributeAsync("data-drawn", "100", new() { Timeout = 30_000 });
        await Assertions.Expect(page.GetByTestId("bits-per-dim")).ToContainTextAsync("bits per dimension");
        await Assertions.Expect(page.GetByTestId("bits-chart")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("quality-empty")).ToContainTextAsync("the classifier that scores samples is MNIST's (28×28 grey)");
        var screenshot = Path.Combine(Browser.Screenshots, "colour-2-run-samples.png");
        await samples.ScrollIntoViewIfNeededAsync();
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot of the run page with its colour samples: {screenshot}");

        // The samples are colour: in some pixel red, green and blue all differ (a grey image has R = G = B everywhere).
        var counts = await samples.EvaluateAsync<int[]>("""
            c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] && d[i + 1] !== d[i + 2] && d[i] !== d[i + 2]) n++;
                   return [n, d.length / 4]; }
            """);
        var (coloured, pixels) = (counts[0], counts[1]);
        output.WriteLine($"{coloured} of {pixels} canvas pixels have R ≠ G ≠ B");
        Assert.True(coloured > pixels / 10, $"only {coloured} of {pixels} pixels are coloured");
        var bits = await page.GetByTestId("bits-per-dim").InnerTextAsync();
        output.WriteLine(bits);

        // Explore: samples in colour, and the Draw tab says drawing is for MNIST-like grey models (a VAE has no classifier,
        // so no Draw tab at all; the M2's page says so — checked through the model's capabilities in ExplorePage).
        await page.GetByTestId("explore-link").ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100", new() { Timeout = 60_000 });
        Assert.True(await page.GetByTestId("explore-samples").EvaluateAsync<bool>("""
            c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] && d[i + 1] !== d[i + 2]) return true; return false; }
            """));
        await page.GetByRole(AriaRole.Tab, new() { Name = "Complete" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Complete", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("explore-complete")).ToHaveAttributeAsync("data-drawn", "8", new() { Timeout = 60_000 });
        await Browser.Screenshot(page, "colour-3-explore-complete");
    }
}
