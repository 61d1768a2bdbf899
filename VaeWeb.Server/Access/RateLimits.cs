using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace VaeWeb.Server.Access;

/// <summary>Configuration section "RateLimits": how fast runs may be started and the model asked over HTTP.</summary>
public sealed class RateLimitOptions
{
    /// <summary>POST /api/runs: 20 a minute.</summary>
    public FixedWindowRateLimiterOptions RunSubmissions { get; set; } = new() { PermitLimit = 20, Window = TimeSpan.FromMinutes(1) };
    /// <summary>Explore, classify, gallery creation and regeneration: bursts of 60, then 20 a second.</summary>
    public TokenBucketRateLimiterOptions ModelRequests { get; set; } = new() { TokenLimit = 60, TokensPerPeriod = 20, ReplenishmentPeriod = TimeSpan.FromSeconds(1) };
}

/// <summary>ASP.NET Core rate limiting on what costs the server: starting runs and running the model.</summary>
public static class RateLimits
{
    public const string RunSubmissions = "run-submissions", ModelRequests = "model-requests";

    public static IServiceCollection AddRateLimits(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration("RateLimits");
        // One owner per server: one partition per policy, whoever calls.
        return services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(RunSubmissions, c => RateLimitPartition.GetFixedWindowLimiter(RunSubmissions, _ => Options(c).RunSubmissions));
            o.AddPolicy(ModelRequests, c => RateLimitPartition.GetTokenBucketLimiter(ModelRequests, _ => Options(c).ModelRequests));
            o.OnRejected = (context, _) =>
            {
                var retry = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retry.ToString();
                var limits = Options(context.HttpContext);
                var what = context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName == RunSubmissions
                    ? $"Too many runs started: at most {limits.RunSubmissions.PermitLimit} per {limits.RunSubmissions.Window.TotalSeconds:0} s"
                    : $"Too many model requests: at most {limits.ModelRequests.TokenLimit} at once, then {limits.ModelRequests.TokensPerPeriod} per {limits.ModelRequests.ReplenishmentPeriod.TotalSeconds:0.#} s";
                return new(AccessControl.WriteProblemAsync(context.HttpContext, 429, "Too many requests", $"{what}. Try again in {retry} s."));
            };
        });
    }

    static RateLimitOptions Options(HttpContext context) => context.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value;
}
