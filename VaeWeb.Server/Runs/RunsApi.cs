using Microsoft.AspNetCore.Http.HttpResults;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Access;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>The HTTP API for runs, for scripts and other tools; it validates exactly as the form does.</summary>
public static class RunsApi
{
    public sealed record SubmitRun(string? Name, RunConfig Config);
    public sealed record RunSummary(long Id, string Name, RunStatus Status, double Progress, int EpochsDone, double? TestElbo,
        double? BestValidationError, double? TestErrorAtBest, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, string? Error, bool CanResume, RunConfig Config)
    {
        public static RunSummary From(Run r) => new(r.Id, r.Name, r.Status, r.Progress, r.EpochsDone, r.TestElbo, r.BestValidationError,
            r.TestErrorAtBest, r.CreatedAt, r.StartedAt, r.FinishedAt, r.Error, r.CanResume, RunConfig.FromJson(r.ConfigJson));
    }

    public static IEndpointRouteBuilder MapRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/runs").DisableAntiforgery();
        api.MapGet("/", async (RunService runs) => TypedResults.Ok((await runs.ListAsync()).Select(RunSummary.From)));
        api.MapGet("/{id:long}", async Task<Results<Ok<RunSummary>, NotFound>> (long id, RunService runs) =>
            await runs.FindAsync(id) is { } run ? TypedResults.Ok(RunSummary.From(run)) : TypedResults.NotFound());
        api.MapPost("/", async Task<Results<Created<RunSummary>, ValidationProblem, ProblemHttpResult>> (SubmitRun request, RunService runs) =>
        {
            if (request.Config?.Validate() is not { } errors)
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["config"] = ["A run config is required."] });
            if (errors.Count > 0)
                return TypedResults.ValidationProblem(errors.GroupBy(e => e.Field).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()));
            try
            {
                var run = await runs.SubmitAsync(request.Config, request.Name);
                return TypedResults.Created($"/api/runs/{run.Id}", RunSummary.From(run));
            }
            catch (RunQueueFullException e) { return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status409Conflict, title: "The queue is full"); }
        }).RequireRateLimiting(RateLimits.RunSubmissions);
        api.MapPost("/{id:long}/cancel", async Task<Results<Accepted, NotFound>> (long id, RunService runs) =>
            await runs.CancelAsync(id) ? TypedResults.Accepted($"/api/runs/{id}") : TypedResults.NotFound());
        // Like a submission: it queues a run.
        api.MapPost("/{id:long}/resume", async Task<Results<Accepted, NotFound, Conflict<string>>> (long id, RunService runs) =>
        {
            try { return await runs.ResumeAsync(id) ? TypedResults.Accepted($"/api/runs/{id}") : TypedResults.NotFound(); }
            catch (InvalidOperationException e) { return TypedResults.Conflict(e.Message); }
        }).RequireRateLimiting(RateLimits.RunSubmissions);
        api.MapDelete("/{id:long}", async Task<Results<NoContent, NotFound, Conflict<string>>> (long id, RunService runs) =>
        {
            try { return await runs.DeleteAsync(id) ? TypedResults.NoContent() : TypedResults.NotFound(); }
            catch (InvalidOperationException e) { return TypedResults.Conflict(e.Message); }
        });
        return app;
    }
}
