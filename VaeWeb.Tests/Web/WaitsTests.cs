using Microsoft.Extensions.DependencyInjection;

namespace VaeWeb.Tests.Web;

public class WaitsTests
{
    [Fact]
    public async Task WaitUntil_returns_once_the_condition_holds_and_names_what_it_waited_for_on_timeout()
    {
        var calls = 0;
        await WaitUntil(() => ++calls == 3, TimeSpan.FromSeconds(5), "the third call", TimeSpan.FromMilliseconds(1));
        Assert.Equal(3, calls);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => WaitUntil(() => false, TimeSpan.FromMilliseconds(50), "pigs fly"));
        Assert.Contains("waiting until pigs fly", error.Message);
    }

    [Fact]
    public async Task WaitForRun_says_which_state_the_run_was_left_in()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        var run = await server.Services.GetRequiredService<VaeWeb.Server.Runs.RunService>().SubmitAsync(new() { Epochs = 1 }, "never trained");

        var error = await Assert.ThrowsAsync<TimeoutException>(() => server.WaitForRunToFinish(run.Id, TimeSpan.FromMilliseconds(200)));
        Assert.Contains($"run {run.Id} finishes (run {run.Id} is Queued)", error.Message);
        Assert.Contains("The server's log:", error.Message);                  // what the server saw, when a wait runs out
    }
}
