using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace VaeWeb.Server.Engine;

/// <summary>The shared secret of this server's workers: configured, or generated once and kept in the data folder.</summary>
public sealed class WorkerToken(string value)
{
    public string Value { get; } = value;

    public static WorkerToken LoadOrCreate(EngineOptions options, string dataDirectory)
    {
        if (options.WorkerToken.Length > 0) return new(options.WorkerToken);
        var file = Path.Combine(dataDirectory, "worker-token");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(dataDirectory);
            File.WriteAllText(file, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new(File.ReadAllText(file).Trim());
    }

    public bool Matches(string? presented) => presented is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(Value));
}

/// <summary>
/// Authenticates engine workers by their token: "Authorization: Bearer T", or the access_token query parameter that
/// SignalR's WebSocket transport uses. Anything else (a browser, an anonymous client) is not a worker.
/// </summary>
public sealed class WorkerAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, WorkerToken token)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "WorkerToken", Role = "worker";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? presented = Request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..]
            : Request.Query["access_token"].FirstOrDefault();
        if (presented is null) return Task.FromResult(AuthenticateResult.NoResult());
        if (!token.Matches(presented)) return Task.FromResult(AuthenticateResult.Fail("Invalid worker token."));
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "worker"), new Claim(ClaimTypes.Role, Role)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }
}
