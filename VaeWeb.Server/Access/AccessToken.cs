using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace VaeWeb.Server.Access;

/// <summary>Configuration section "Auth".</summary>
public sealed class AccessOptions
{
    /// <summary>The token that signs a browser or a script in; empty = generate one at first start and keep it in data/access-token.</summary>
    public string Token { get; set; } = "";
}

/// <summary>
/// The secret that controls this server, as Jupyter's token does: configured, or generated once (256 random bits) and
/// kept in the data folder, readable by its owner only.
/// </summary>
public sealed class AccessToken(string value, string source)
{
    public const string FileName = "access-token";
    public string Value { get; } = value;
    /// <summary>Where the token comes from: "Auth:Token" or the token file's path.</summary>
    public string Source { get; } = source;
    /// <summary>Names the token without revealing it: a cookie issued for an older token stops working when it changes.</summary>
    public string Id { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..16];

    public static AccessToken LoadOrCreate(AccessOptions options, string dataDirectory)
    {
        if (options.Token.Length > 0) return new(options.Token, "Auth:Token");
        var file = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(dataDirectory);
            File.WriteAllText(file, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new(File.ReadAllText(file).Trim(), file);
    }

    public bool Matches(string? presented) => presented is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(Value));

    /// <summary>The signed-in owner, as the cookie and the bearer scheme both describe them.</summary>
    public ClaimsPrincipal Owner(string scheme) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "owner"), new Claim(AccessControl.TokenIdClaim, Id)], scheme));
}

/// <summary>Authenticates scripts: "Authorization: Bearer TOKEN" with the access token. Never from the query string (URLs end up in logs).</summary>
public sealed class AccessTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AccessToken token)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (AccessControl.BearerToken(Request) is not { } presented) return Task.FromResult(AuthenticateResult.NoResult());
        return Task.FromResult(token.Matches(presented)
            ? AuthenticateResult.Success(new AuthenticationTicket(token.Owner(Scheme.Name), Scheme.Name))
            : AuthenticateResult.Fail("Invalid access token."));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return AccessControl.WriteProblemAsync(Context, 401, "Not signed in",
            $"The bearer token is not this server's access token (see {token.Source}).");
    }
}
