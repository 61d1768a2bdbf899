using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace VaeWeb.Server.Access;

/// <summary>
/// Who may control this server, as Jupyter does it for a local one: whoever holds the access token. On start the server
/// prints a sign-in URL with it; opening that URL gives the browser an HttpOnly, SameSite=Strict cookie; scripts send
/// "Authorization: Bearer TOKEN". Every page and API needs one or the other except what is marked anonymous: shared
/// galleries (/g/{id}, its PNG, GET /api/galleries/{id}), /health, static assets and the sign-in page.
/// </summary>
public static class AccessControl
{
    public const string Scheme = "Access", CookieScheme = "AccessCookie", BearerScheme = "AccessToken", TokenIdClaim = "vaeweb:token-id";
    public const string SignInPath = "/signin";

    public static WebApplicationBuilder AddAccessControl(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AccessOptions>().BindConfiguration("Auth");
        services.AddSingleton(sp => AccessToken.LoadOrCreate(sp.GetRequiredService<IOptions<AccessOptions>>().Value, sp.GetRequiredService<DataFolder>().Root));

        services.AddAuthentication(Scheme)
            // A request with a bearer token is a script; anything else is a browser with (or without) the cookie.
            .AddPolicyScheme(Scheme, "Cookie or bearer token", o => o.ForwardDefaultSelector = c => BearerToken(c.Request) is null ? CookieScheme : BearerScheme)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, AccessTokenHandler>(BearerScheme, null)
            .AddCookie(CookieScheme, o =>
            {
                o.Cookie.Name = "VaeWeb.Access";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;                 // never sent with a request another site starts
                o.ExpireTimeSpan = TimeSpan.FromDays(30);
                o.SlidingExpiration = true;
                o.LoginPath = SignInPath;
                o.ReturnUrlParameter = "returnUrl";
                o.Events.OnRedirectToLogin = c => IsPageVisit(c.Request)
                    ? Redirect(c.Response, c.RedirectUri)
                    : WriteProblemAsync(c.HttpContext, 401, "Not signed in", NotSignedIn(c.HttpContext.RequestServices.GetRequiredService<AccessToken>()));
                o.Events.OnRedirectToAccessDenied = c => WriteProblemAsync(c.HttpContext, 403, "Forbidden", "Not allowed.");
                o.Events.OnValidatePrincipal = c =>
                {
                    // A cookie issued for another token (the token file was deleted, Auth:Token changed) signs nobody in.
                    if (c.Principal?.FindFirst(TokenIdClaim)?.Value != c.HttpContext.RequestServices.GetRequiredService<AccessToken>().Id) c.RejectPrincipal();
                    return Task.CompletedTask;
                };
            });
        // Everything needs the owner unless its endpoint says AllowAnonymous. The engine hub keeps its own worker scheme.
        services.AddAuthorizationBuilder().SetFallbackPolicy(new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().Build());
        services.AddCascadingAuthenticationState();
        return builder;
    }

    /// <summary>Prints the sign-in URL once the server listens (a log line, and the console for whoever started it).</summary>
    public static WebApplication PrintSignInUrl(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var token = app.Services.GetRequiredService<AccessToken>();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://localhost:5298";
            var url = $"{address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://[::]", "://localhost").Replace("://0.0.0.0", "://localhost").TrimEnd('/')}{SignInPath}?token={token.Value}";
            app.Logger.LogInformation("Open {SignInUrl} to sign in (the token is {TokenSource})", url, token.Source);
            Console.WriteLine($"Open {url} to sign in");
        });
        return app;
    }

    /// <summary>What an unsigned request is told: where the sign-in URL and the token are.</summary>
    public static string NotSignedIn(AccessToken token) =>
        $"Sign in by opening the URL the server printed when it started (…{SignInPath}?token=…), or send \"Authorization: Bearer TOKEN\" " +
        $"with the access token ({(token.Source == "Auth:Token" ? "configured as Auth:Token" : $"in the file {AccessToken.FileName} of the server's data folder")}).";

    public static string? BearerToken(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;

    /// <summary>A person navigating to a page (they get the sign-in page), not a script, a fetch or the Blazor hub (they get 401).</summary>
    static bool IsPageVisit(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) && request.Headers.Accept.ToString().Contains("text/html") &&
        !request.Path.StartsWithSegments("/api") && !request.Path.StartsWithSegments("/_blazor") && !request.Path.StartsWithSegments("/hubs");

    static Task Redirect(HttpResponse response, string uri)
    {
        response.Redirect(uri);
        return Task.CompletedTask;
    }

    /// <summary>A problem+json body when the client takes JSON, else the detail as plain text (a form post, a page).</summary>
    public static async Task WriteProblemAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        if (!await problems.TryWriteAsync(new() { HttpContext = context, ProblemDetails = { Status = status, Title = title, Detail = detail } }))
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"{title}: {detail}");
        }
    }
}
