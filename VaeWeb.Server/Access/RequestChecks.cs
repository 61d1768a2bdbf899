using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Net.Http.Headers;

namespace VaeWeb.Server.Access;

/// <summary>Checks every request gets before it reaches an endpoint: where it comes from, and how its JSON is encoded.</summary>
public static class RequestChecks
{
    /// <summary>
    /// Refuses (403) a request that changes something (any method but GET, HEAD, OPTIONS, TRACE) or opens a WebSocket when
    /// the browser says another page started it: Sec-Fetch-Site cross-site or same-site (another port of localhost is the
    /// same site, and gets SameSite cookies), or an Origin other than this server's. Scripts send neither header.
    /// </summary>
    public static IApplicationBuilder UseSameOriginWrites(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (Foreign(context) is { } origin)
        {
            await AccessControl.WriteProblemAsync(context, 403, "Cross-site request refused",
                $"A page on {origin} may not {context.Request.Method} {context.Request.Path}: only VaeWeb's own pages and scripts with the access token can change anything.");
            return;
        }
        await next();
    });

    static string? Foreign(HttpContext context)
    {
        var request = context.Request;
        var webSocket = request.Headers.Upgrade.ToString().Equals("websocket", StringComparison.OrdinalIgnoreCase);
        if (HttpMethods.IsGet(request.Method) && !webSocket || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method) || HttpMethods.IsTrace(request.Method))
            return null;
        var origin = request.Headers.Origin.ToString();
        var own = $"{request.Scheme}://{request.Host}";
        if (origin.Length > 0 && !string.Equals(origin, own, StringComparison.OrdinalIgnoreCase)) return origin;
        return request.Headers["Sec-Fetch-Site"].ToString() is "cross-site" or "same-site" ? (origin.Length > 0 ? origin : "another site") : null;
    }

    /// <summary>
    /// JSON must be UTF-8 (RFC 8259): a body declared in another charset gets a 415 that says so, instead of the 500 of a
    /// charset .NET cannot decode ("application/json; charset=bogus").
    /// </summary>
    public static IApplicationBuilder UseUtf8Json(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type) && type.MediaType.Value is { } media &&
            (media.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase)) &&
            type.Charset.HasValue && !IsUtf8(type.Charset.Value!))
        {
            await AccessControl.WriteProblemAsync(context, 415, "Unsupported charset",
                $"JSON bodies must be UTF-8; this one says charset={type.Charset.Value}. Send Content-Type: application/json.");
            return;
        }
        await next();
    });

    static bool IsUtf8(string charset) => charset.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Trim('"').Equals("utf8", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Errors as clients see them, never with a stack trace (the developer exception page sent one in Development): a body
/// that does not bind (malformed JSON, a wrong type) is the client's error, a 400 ProblemDetails with the framework's
/// reason and no error log; any other failure of the API is a 500 ProblemDetails naming the request id in the log.
/// Pages fall through to the /Error page.
/// </summary>
public sealed class ClientErrorHandler(ILogger<ClientErrorHandler> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is BadHttpRequestException bad)
        {
            log.LogDebug("Bad request to {Path}: {Reason}", context.Request.Path, bad.Message);
            var reason = bad.InnerException is System.Text.Json.JsonException json ? $"{bad.Message} {json.Message}" : bad.Message;
            await AccessControl.WriteProblemAsync(context, bad.StatusCode, "Bad request", reason);
            return true;
        }
        if (!context.Request.Path.StartsWithSegments("/api")) return false;
        log.LogError(exception, "Request {RequestId} to {Path} failed", context.TraceIdentifier, context.Request.Path);
        await AccessControl.WriteProblemAsync(context, 500, "Server error", $"The server failed on this request; its log has the details (request {context.TraceIdentifier}).");
        return true;
    }
}
