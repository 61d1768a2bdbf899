using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Server.Data;

namespace VaeWeb.Tests.Web;

/// <summary>A person's path through the app in real Chromium: configure, start, watch live, reload, restart the server.</summary>
public class EndToEndTests(Browser browser) : IClassFixture<Browser>
{
    internal static Task<int> StepPoints(IPage page, long runId) =>
        page.EvaluateAsync<int>($"() => document.getElementById('elbo-{runId}')?.data?.[0]?.x?.length ?? -1");

    /// <summary>Every trace of both charts holds each step at most once (issue 9: a viewer who opened or reloaded the
    /// page mid-run sometimes saw a step twice, where the stored history and the live points overlapped).</summary>
    internal static async Task AssertNoStepTwice(IPage page, long runId, string when)
    {
        var repeated = await page.EvaluateAsync<string[]>($$"""
            () => ['elbo-{{runId}}', 'terms-{{runId}}'].flatMap(id => (document.getElementById(id)?.data ?? []).flatMap(t => {
              const seen = new Set(), twice = [];
              for (const x of t.x) { if (seen.has(x)) twice.push(`${id} '${t.name}' step ${x}`); seen.add(x); }
              return twice;
            }))
            """);
        Assert.True(repeated.Length == 0, $"{when}: steps drawn twice: {string.Join("; ", repeated.Take(5))}");
    }

    internal static Task<int> WaitForPointsAsync(IPage page, long runId, Func<int, bool> condition, string what) => WaitForPoints(page, runId, condition, what);

    static async Task<int> WaitForPoints(IPage page, long runId, Func<int, bool> condition, string what)
    {
        int n = -1;
        await WaitUntil(async () => condition(n = await StepPoints(page, runId)), TimeSpan.FromSeconds(60),
            () => $"{what} (the ELBO chart has {n} step points)");
        return n;
    }

    [Fact]
    public async Task Start_a_run_from_the_form_watch_it_live_reload_mid_run_and_find_it_intact_after_a_restart()
    {
        string database;
        long runId;
        int finalPoints;
        await using (var server = VaeWebServer.Start())
        {
            var page = await browser.NewPageAsync(server);
            await page.GotoAsync(new Uri(server.Address, "/runs/new").ToString());
            await page.GetByLabel("Name").FillAsync("e2e fc vae");
            // Six epochs of 30,000 images: long enough (≈25 s alone, more under a parallel test load) that the run is
            // still training after the page reloads, so the test can see live points arrive on the reloaded page.
            await page.GetByLabel("Epochs").FillAsync("6");
            await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
            await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("30000");
            await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("1000");
            await Browser.Screenshot(page, "1-new-run-form");
            runId = await Browser.StartRunAsync(page, server);
            var first = await WaitForPoints(page, runId, n => n > 0, "the first loss point");
            var later = await WaitForPoints(page, runId, n => n > first, "more live loss points");
            Assert.True(later > first);
            await Browser.Screenshot(page, "2-run-live");

            // Reloaded three times mid-run, and opened in a second browser: each joins stored history and live points.
            int afterReload = later;
            for (int reload = 1; reload <= 3; reload++)
            {
                await page.ReloadAsync();
                var before = afterReload;
                afterReload = await WaitForPoints(page, runId, n => n >= before, "the history after a reload");
                afterReload = await WaitForPoints(page, runId, n => n > afterReload, "live points after the reload");
                await AssertNoStepTwice(page, runId, $"after reload {reload}");
            }
            var second = await browser.NewPageAsync(server);
            await second.GotoAsync(page.Url);
            await WaitForPoints(second, runId, n => n > 0, "the history in a second browser");

            await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 120_000 });
            await second.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 30_000 });
            await AssertNoStepTwice(page, runId, "the reloaded page, at the end of the run");
            await AssertNoStepTwice(second, runId, "the second browser, at the end of the run");
            Assert.Equal(await StepPoints(page, runId), await StepPoints(second, runId));
            var samples = page.GetByTestId("samples-grid");
            await Assertions.Expect(samples).ToHaveAttributeAsync("data-drawn", "100");
            Assert.True(await CanvasHasInk(page, "samples-grid"), "the sample grid canvas is blank");
            finalPoints = await StepPoints(page, runId);
            await Browser.Screenshot(page, "3-run-completed");
            database = server.Database;
        }

        await using (var restarted = VaeWebServer.Restart(database))
        {
            var page = await browser.NewPageAsync(restarted);
            await page.GotoAsync(new Uri(restarted.Address, $"/runs/{runId}").ToString());
            await Assertions.Expect(page.GetByTestId("run-status")).ToHaveTextAsync("completed");
            Assert.Equal(finalPoints, await WaitForPoints(page, runId, n => n >= finalPoints, "the stored history"));
            await AssertNoStepTwice(page, runId, "after the restart");
            await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
            Assert.True(await CanvasHasInk(page, "samples-grid"));
            await Browser.Screenshot(page, "4-run-after-restart");

            await page.GotoAsync(restarted.Address.ToString());
            await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "e2e fc vae" })).ToBeVisibleAsync();
            await Browser.Screenshot(page, "5-runs-table");
        }
    }

    [Fact]
    public async Task A_run_training_when_the_server_stops_is_shown_interrupted_after_the_restart()
    {
        string database;
        long runId;
        await using (var server = VaeWebServer.Start())
        {
            var runs = (VaeWeb.Server.Runs.RunService)server.Services.GetService(typeof(VaeWeb.Server.Runs.RunService))!;
            var run = await runs.SubmitAsync(new VaeWeb.Engine.Training.RunConfig { Epochs = 50, TrainLimit = 20000 }, "long run");
            runId = run.Id;
            await WaitUntil(async () => (await runs.FindAsync(runId))!.Status == RunStatus.Running, TimeSpan.FromSeconds(30), "the long run is training");
            database = server.Database;
        }
        await using var restarted = VaeWebServer.Restart(database);
        var page = await browser.NewPageAsync(restarted);
        await page.GotoAsync(new Uri(restarted.Address, $"/runs/{runId}").ToString());
        await Assertions.Expect(page.GetByTestId("run-status")).ToHaveTextAsync("interrupted");
        await Assertions.Expect(page.GetByTestId("run-error")).ToContainTextAsync("server stopped");
        await Browser.Screenshot(page, "6-run-interrupted");
    }

    [Fact]
    public async Task Runs_are_compared_from_the_table_and_deleted_after_confirmation()
    {
        await using var server = VaeWebServer.Start();
        var runs = (VaeWeb.Server.Runs.RunService)server.Services.GetService(typeof(VaeWeb.Server.Runs.RunService))!;
        var tiny = new VaeWeb.Engine.Training.RunConfig { Epochs = 2, TrainLimit = 1000, TestLimit = 200, Hidden = [100] };
        var first = await runs.SubmitAsync(tiny, "first tiny run");
        var second = await runs.SubmitAsync(tiny with { Latent = 5 }, "second tiny run");
        await WaitUntil(async () => (await runs.FindAsync(second.Id))!.Status == RunStatus.Completed, TimeSpan.FromSeconds(60), "both tiny runs completed");

        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Row).Filter(new() { HasText = "first tiny run" }).GetByRole(AriaRole.Checkbox).CheckAsync();
        await page.GetByRole(AriaRole.Row).Filter(new() { HasText = "second tiny run" }).GetByRole(AriaRole.Checkbox).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Compare selected" }).ClickAsync();
        var compared = await Browser.AddressOnceShownAsync(page.GetByTestId("compare-chart"));
        Assert.StartsWith("/compare?runs=", compared);
        Assert.Equal([first.Id, second.Id], compared["/compare?runs=".Length..].Split(',').Select(long.Parse).Order());
        await page.WaitForFunctionAsync("() => document.getElementById('compare-chart')?.data?.length === 4");
        var testPoints = await page.EvaluateAsync<int[]>("() => document.getElementById('compare-chart').data.map(t => t.x.length)");
        Assert.Equal([2, 2, 2, 2], testPoints);                                // two runs × (test, train) × two epochs
        await Browser.Screenshot(page, "7-compare");

        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Row).Filter(new() { HasText = "first tiny run" }).GetByRole(AriaRole.Button, new() { Name = "Delete run" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Keep", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "first tiny run" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Row).Filter(new() { HasText = "first tiny run" }).GetByRole(AriaRole.Button, new() { Name = "Delete run" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "first tiny run" })).ToHaveCountAsync(0);
        Assert.Null(await runs.FindAsync(first.Id));
        Assert.NotNull(await runs.FindAsync(second.Id));
    }

    [Fact]
    public async Task A_semi_supervised_run_started_from_a_preset_link_shows_error_curves_and_one_sample_row_per_class()
    {
        await using var server = VaeWebServer.Start();
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(new Uri(server.Address, "/runs/new?preset=" + Uri.EscapeDataString("Poster: FC M2, 600 labels")).ToString());
        await page.GetByLabel("Name").FillAsync("e2e m2");
        await page.GetByLabel("Labeled images").FillAsync("100");
        await page.GetByLabel("Epochs").FillAsync("2");
        await page.GetByLabel("Hidden sizes").FillAsync("128, 128");
        await page.GetByText("Advanced: subset, time limit, learning-rate decay").ClickAsync();
        await page.GetByLabel("Training images (0 = all 60,000)").FillAsync("2000");
        await page.GetByLabel("Test images (0 = all 10,000)").FillAsync("500");
        await Browser.Screenshot(page, "8-new-m2-run");
        var runId = await Browser.StartRunAsync(page, server);

        await page.GetByTestId("run-status").Filter(new() { HasText = "completed" }).WaitForAsync(new() { Timeout = 120_000 });
        // Two epochs: two validation and two test error points, each a percentage.
        await page.WaitForFunctionAsync($"() => document.getElementById('error-{runId}')?.data?.every(t => t.y.length === 2)");
        var errors = await page.EvaluateAsync<double[]>($"() => document.getElementById('error-{runId}').data.flatMap(t => t.y)");
        Assert.All(errors, e => Assert.InRange(e, 0, 100));
        var bounds = await page.EvaluateAsync<int>($"() => document.getElementById('bounds-{runId}').data[0].x.length");
        Assert.True(bounds > 2, $"the bounds chart has {bounds} step points");
        await Assertions.Expect(page.GetByText("Samples, one row per class")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("samples-grid")).ToHaveAttributeAsync("data-drawn", "100");
        await Assertions.Expect(page.GetByTestId("best-error")).ToContainTextAsync("test error");
        // Sample quality: scored every epoch when this data folder has the classifier, else the chart says how to get it.
        var dataFolder = server.Services.GetRequiredService<VaeWeb.Engine.Data.DatasetCache>().Directory;
        if (File.Exists(VaeWeb.Engine.Quality.DigitClassifier.FileFor(dataFolder, "mnist")))
            await page.WaitForFunctionAsync($"() => document.getElementById('quality-{runId}')?.data?.[0]?.y?.length === 2");
        else
            await Assertions.Expect(page.GetByTestId("quality-empty")).ToContainTextAsync("classifier");
        await Browser.Screenshot(page, "9-m2-run-completed");
    }

    static Task<bool> CanvasHasInk(IPage page, string testId) => page.EvaluateAsync<bool>($$"""
        () => {
          const c = document.querySelector('[data-testid="{{testId}}"]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) if (d[i] > 128) return true;
          return false;
        }
        """);
}
