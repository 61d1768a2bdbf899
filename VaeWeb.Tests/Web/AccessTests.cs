using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>Issue 12: only whoever holds the access token controls the server; shared galleries stay public; no other site can act for the user.</summary>
/// <remarks>On the explore tests' app (its own instance): an M2 that classifies, and a VAE this class deletes.</remarks>
public class AccessTests(ServerWithTrainedM2 app, Browser browser) : IClassFixture<ServerWithTrainedM2>, IClassFixture<Browser>
{
    VaeWebServer Server => app.Server;
    /// <summary>A "1": a vertical stroke down the middle of a 28x28 pad.</summary>
    static readonly object Drawing = new { width = 28, height = 28, pixels = Enumerable.Range(0, 784).Select(i => i % 28 is 13 or 14 && i / 28 is > 4 and < 24 ? 1f : 0f).ToArray() };

    async Task<string> NewGallery(HttpClient http, long run)
    {
        var created = await http.PostAsJsonAsync($"/api/runs/{run}/galleries", new { view = "samples", seed = 5 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Anonymous_clients_cannot_control_anything_but_shared_galleries_stay_public()
    {
        using var owner = Server.CreateClient();
        var gallery = await NewGallery(owner, app.RunId);
        using var anonymous = Server.CreateAnonymousClient();

        (HttpMethod, string, object?)[] refused =
        [
            (HttpMethod.Get, "/api/runs", null), (HttpMethod.Get, $"/api/runs/{app.RunId}", null),
            (HttpMethod.Post, "/api/runs", new { config = new { epochs = 1 } }),
            (HttpMethod.Post, $"/api/runs/{app.RunId}/cancel", null), (HttpMethod.Post, $"/api/runs/{app.RunId}/resume", null),
            (HttpMethod.Delete, $"/api/runs/{app.RunId}", null),
            (HttpMethod.Post, $"/api/runs/{app.RunId}/explore", new { view = "samples" }), (HttpMethod.Post, $"/api/runs/{app.RunId}/classify", Drawing),
            (HttpMethod.Post, $"/api/runs/{app.RunId}/galleries", new { view = "samples" }), (HttpMethod.Delete, $"/api/galleries/{gallery}", null),
            (HttpMethod.Post, $"/api/galleries/{gallery}/regenerate", null), (HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1", null),
            (HttpMethod.Get, $"/api/runs/{app.RunId}/animation/samples", null),
        ];
        foreach (var (method, path, body) in refused)
        {
            using var response = await anonymous.SendAsync(new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) });
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode}");
            if (path.StartsWith("/api")) Assert.Contains("Authorization: Bearer", await response.Content.ReadAsStringAsync());
        }
        // A wrong bearer token is no better than none.
        using var wrong = Server.CreateAnonymousClient();
        wrong.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/runs")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/api/galleries/{gallery}")).StatusCode);
        // This model draws in one step: its gallery has no animation to play, and its run none to make (to the owner: 409).
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/api/galleries/{gallery}/animation")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await owner.GetAsync($"/api/runs/{app.RunId}/animation/samples")).StatusCode);
        Assert.Equal("image/png", (await anonymous.GetAsync($"/g/{gallery}.png")).Content.Headers.ContentType!.MediaType);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/g/{gallery}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/signin")).StatusCode);
        // A page visit is sent to the sign-in page, not refused with a bare 401.
        using var page = new HttpRequestMessage(HttpMethod.Get, $"/runs/{app.RunId}");
        page.Headers.Accept.ParseAdd("text/html");
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = Server.Address };
        var visit = await noRedirects.SendAsync(page);
        Assert.Equal(HttpStatusCode.Redirect, visit.StatusCode);
        Assert.Equal($"/signin?returnUrl=%2Fruns%2F{app.RunId}", visit.Headers.Location!.PathAndQuery);
    }

    [Fact]
    public async Task A_script_with_the_bearer_token_controls_runs()
    {
        using var http = Server.CreateClient();
        var runs = await http.GetFromJsonAsync<JsonElement[]>("/api/runs");
        Assert.Contains(runs!, r => r.GetProperty("id").GetInt64() == app.RunId);
        var classified = await http.PostAsJsonAsync($"/api/runs/{app.RunId}/classify", Drawing);
        Assert.Equal(HttpStatusCode.OK, classified.StatusCode);
        Assert.Equal(10, (await classified.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("probabilities").GetArrayLength());
    }

    [Fact]
    public async Task The_printed_sign_in_url_signs_a_browser_in_with_a_strict_http_only_cookie_and_a_wrong_token_does_not()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync(Server.Address.ToString());
        Assert.EndsWith("/signin?returnUrl=%2F", page.Url);
        await Assertions.Expect(page.GetByTestId("signin-help")).ToContainTextAsync("Open http://");
        await Assertions.Expect(page.GetByTestId("signin-help")).ToContainTextAsync("Auth:Token");             // where the token is
        await Browser.Screenshot(page, "20-sign-in-needed");

        var refused = await page.GotoAsync(new Uri(Server.Address, "/signin?token=guessed").ToString());
        Assert.Equal(403, refused!.Status);
        await Assertions.Expect(page.GetByTestId("signin-refused")).ToBeVisibleAsync();
        Assert.DoesNotContain(await page.Context.CookiesAsync(), x => x.Name == "VaeWeb.Access");
        await page.GotoAsync(Server.Address.ToString());
        Assert.Contains("/signin", page.Url);

        await page.GotoAsync(Server.SignInUrl.ToString());
        Assert.Equal(Server.Address.ToString(), page.Url);                         // the token is not left in the address bar
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "explore m2" })).ToBeVisibleAsync();   // a live circuit
        var cookie = (await page.Context.CookiesAsync()).Single(x => x.Name == "VaeWeb.Access");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        await page.GotoAsync(new Uri(Server.Address, $"/runs/{app.RunId}/explore").ToString());
        await Assertions.Expect(page.GetByTestId("explore-samples")).ToHaveAttributeAsync("data-drawn", "100");
        await Browser.Screenshot(page, "21-signed-in");
    }

    [Fact]
    public async Task A_page_on_another_origin_cannot_cancel_a_run_or_run_the_model_even_with_the_cookie()
    {
        using var http = Server.CreateClient();
        // A run that keeps the embedded worker busy while the other site tries its luck.
        var submitted = await http.PostAsJsonAsync("/api/runs", new { name = "victim", config = new { epochs = 1000, trainLimit = 2000, testLimit = 100, hidden = new[] { 32 } } });
        var victim = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        await Server.WaitForRun(victim, r => r.Status == RunStatus.Running, TimeSpan.FromMinutes(1), "the victim run trains");
        try
        {
            // The other site: another port of 127.0.0.1, so the same *site* (SameSite cookies are sent), another origin.
            var evil = WebApplication.CreateBuilder();
            evil.WebHost.UseUrls("http://127.0.0.1:0");
            await using var site = evil.Build();
            var target = Server.Address.ToString().TrimEnd('/');
            site.MapGet("/", () => Results.Content($$"""
                <form id="f" method="post" action="{{target}}/api/runs/{{victim}}/cancel"></form>
                <script>
                  fetch('{{target}}/api/runs/{{app.RunId}}/classify', { method: 'POST', mode: 'no-cors', credentials: 'include',
                    headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({{JsonSerializer.Serialize(Drawing)}}) })
                    .finally(() => document.getElementById('f').submit());
                </script>
                """, "text/html"));
            await site.StartAsync();

            var page = await browser.NewPageAsync(Server);                           // the user is signed in
            var classify = page.WaitForResponseAsync(r => r.Url.EndsWith("/classify"));
            var cancel = page.WaitForResponseAsync(r => r.Url.EndsWith("/cancel"));
            await page.GotoAsync(site.Urls.First());
            var (classified, cancelled) = (await classify, await cancel);

            Assert.Equal(403, classified.Status);                                     // refused before the endpoint: no model ran
            Assert.False(classified.Headers.ContainsKey("server-timing"));
            Assert.Equal(403, cancelled.Status);
            Assert.Contains("Cross-site request refused", await cancelled.TextAsync());
            await Task.Delay(500);
            Assert.Equal(RunStatus.Running, (await Server.Services.GetRequiredService<RunService>().FindAsync(victim))!.Status);

            // The app's own page, same cookie, same request: it works (the check is the origin, not the session).
            await page.GotoAsync(Server.Address.ToString());
            var own = await page.EvaluateAsync<int>($"async () => (await fetch('/api/runs/{app.RunId}/classify', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({JsonSerializer.Serialize(Drawing)}) }})).status");
            Assert.Equal(200, own);
            var ownPlain = await page.EvaluateAsync<int>($"async () => (await fetch('/api/runs/{app.RunId}/classify', {{ method: 'POST', headers: {{ 'Content-Type': 'text/plain' }}, body: '{{}}' }})).status");
            Assert.Equal(415, ownPlain);

            // Nor can it open a WebSocket to the Blazor hub (a circuit acting as the user).
            using var socket = new System.Net.WebSockets.ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            socket.Options.SetRequestHeader("Origin", site.Urls.First());
            socket.Options.SetRequestHeader("Authorization", $"Bearer {VaeWebServer.AccessToken}");
            await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => socket.ConnectAsync(new Uri(target.Replace("http://", "ws://") + "/_blazor"), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
        }
        finally
        {
            await http.PostAsync($"/api/runs/{victim}/cancel", null);
            await Server.WaitForRunToFinish(victim, TimeSpan.FromMinutes(1));
        }
    }

    [Fact]
    public async Task Bad_bodies_are_client_errors_without_a_stack_trace()
    {
        using var http = Server.CreateClient();
        var bogus = await http.PostAsync("/api/runs", new StringContent("{\"config\": {}}", new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "bogus" }));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, bogus.StatusCode);
        Assert.Contains("UTF-8", await bogus.Content.ReadAsStringAsync());

        // The test host runs in Development, where the developer exception page used to answer these with its stack trace.
        foreach (var (path, body) in new[] { ("/api/runs", "{\"config\": {"), ($"/api/runs/{app.RunId}/explore", "[1, 2"), ("/api/runs", "{\"config\": {\"epochs\": \"many\"}}") })
        {
            var malformed = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await malformed.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType!.MediaType);
            Assert.Contains("JSON", text);
            Assert.DoesNotContain("at Microsoft.", text);                            // a stack frame
            Assert.DoesNotContain(".cs:line", text);
            Assert.DoesNotContain("Exception", text);
        }
        var form = await http.PostAsync($"/api/runs/{app.RunId}/classify", new FormUrlEncodedContent([new("pixels", "1")]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
    }

    [Fact]
    public async Task Deleting_a_run_deletes_its_folder_and_keeps_its_galleries_which_the_owner_can_delete()
    {
        using var http = Server.CreateClient();
        var folder = Server.Services.GetRequiredService<RunService>().RunFolder(app.VaeRunId);
        Assert.True(File.Exists(Path.Combine(folder, "model.pt")), $"the trained run's folder {folder}");
        var gallery = await NewGallery(http, app.VaeRunId);

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/runs/{app.VaeRunId}")).StatusCode);
        Assert.False(Directory.Exists(folder));
        using var anonymous = Server.CreateAnonymousClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/api/galleries/{gallery}")).StatusCode);   // self-contained

        // The owner deletes it from its page; anyone else sees no button.
        var visitor = await browser.NewPageAsync();
        await visitor.GotoAsync(new Uri(Server.Address, $"/g/{gallery}").ToString());
        await Assertions.Expect(visitor.GetByTestId("gallery-title")).ToBeVisibleAsync();
        await Assertions.Expect(visitor.GetByRole(AriaRole.Button, new() { Name = "Delete gallery" })).ToHaveCountAsync(0);
        var owner = await browser.NewPageAsync(Server);
        await owner.GotoAsync(new Uri(Server.Address, $"/g/{gallery}").ToString());
        owner.Dialog += (_, dialog) => dialog.AcceptAsync();
        await owner.GetByRole(AriaRole.Button, new() { Name = "Delete gallery" }).ClickAsync();
        await owner.WaitForURLAsync(Server.Address.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/api/galleries/{gallery}")).StatusCode);

        var another = await NewGallery(http, app.RunId);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/galleries/{another}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"/api/galleries/{another}")).StatusCode);
    }
}

public class TokenChangeTests(Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_new_access_token_signs_out_browsers_signed_in_with_the_old_one()
    {
        string database;
        var page = await browser.NewPageAsync();
        await using (var server = VaeWebServer.Start(embeddedWorker: false))
        {
            await server.SignInAsync(page);
            database = server.Database;
        }
        // Same database and data-protection keys, and the browser still sends its cookie (cookies ignore ports): only the token is new.
        await using var restarted = VaeWebServer.Restart(database, embeddedWorker: false, new Dictionary<string, string> { ["Auth:Token"] = "a-new-token" });
        await page.GotoAsync(restarted.Address.ToString());
        Assert.Contains("/signin?returnUrl=", page.Url);
        await page.GotoAsync(new Uri(restarted.Address, "/signin?token=a-new-token").ToString());
        Assert.Equal(restarted.Address.ToString(), page.Url);
    }
}

/// <summary>Limits that keep a script (or a stuck loop) from swamping the server: rate limits and the queue cap.</summary>
public class LimitTests
{
    [Fact]
    public async Task Starting_runs_and_asking_the_model_too_fast_gets_429_with_retry_after()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false, settings: new Dictionary<string, string>
        {
            ["RateLimits:RunSubmissions:PermitLimit"] = "2", ["RateLimits:RunSubmissions:Window"] = "01:00:00",
            ["RateLimits:ModelRequests:TokenLimit"] = "3", ["RateLimits:ModelRequests:TokensPerPeriod"] = "1", ["RateLimits:ModelRequests:ReplenishmentPeriod"] = "01:00:00",
        });
        using var http = server.CreateClient();
        for (int i = 0; i < 2; i++)
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1 } })).StatusCode);
        var refused = await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1 } });
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter!.Delta > TimeSpan.FromMinutes(1), refused.Headers.RetryAfter.ToString());
        Assert.Contains("at most 2 per 3600 s", await refused.Content.ReadAsStringAsync());
        Assert.Equal(2, (await http.GetFromJsonAsync<JsonElement[]>("/api/runs"))!.Length);

        // Explore, classify and galleries share one bucket (the runs have no model yet: 404 until the bucket is empty).
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/runs/1/explore", new { view = "samples" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/runs/1/classify", new { width = 28, height = 28, pixels = new float[784] })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/runs/1/galleries", new { view = "samples" })).StatusCode);
        var model = await http.PostAsJsonAsync("/api/runs/1/explore", new { view = "samples" });
        Assert.Equal(HttpStatusCode.TooManyRequests, model.StatusCode);
        Assert.Contains("Too many model requests", await model.Content.ReadAsStringAsync());
        Assert.NotNull(model.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/runs/1")).StatusCode);      // reading is not limited
    }

    [Fact]
    public async Task A_full_queue_refuses_another_run_with_a_clear_message_until_one_is_cancelled()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false, settings: new Dictionary<string, string> { ["Engine:MaxQueuedRuns"] = "3" });
        using var http = server.CreateClient();
        var submissions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1000 } })));
        Assert.Equal(3, submissions.Count(s => s.StatusCode == HttpStatusCode.Created));
        var full = submissions.First(s => s.StatusCode != HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.Conflict, full.StatusCode);
        Assert.Contains("3 runs are already queued; wait for some to finish or cancel them.", await full.Content.ReadAsStringAsync());

        var first = (await http.GetFromJsonAsync<JsonElement[]>("/api/runs"))!.Last().GetProperty("id").GetInt64();
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{first}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/api/runs", new { config = new { epochs = 1 } })).StatusCode);
    }
}
