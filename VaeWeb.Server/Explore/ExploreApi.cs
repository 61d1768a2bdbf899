using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Access;

namespace VaeWeb.Server.Explore;

/// <summary>The explore views over HTTP: the drawing pad calls classify straight from the browser, for speed.</summary>
public static class ExploreApi
{
    /// <summary>A drawing as the pad sends it: width·height intensities in [0, 1], row-major.</summary>
    public sealed record DrawingRequest(int Width, int Height, float[] Pixels);
    public sealed record GridResponse(string Title, int Epoch, int Rows, int Cols, int Height, int Width, byte[] Pixels);

    /// <summary>The largest drawing body accepted: a 1024x1024 pad as JSON numbers, with room to spare.</summary>
    public const long MaxDrawingBytes = 16 * 1024 * 1024;

    public static IEndpointRouteBuilder MapExploreApi(this IEndpointRouteBuilder app)
    {
        var runs = app.MapGroup("/api/runs/{id:long}").DisableAntiforgery().RequireRateLimiting(RateLimits.ModelRequests);

        runs.MapPost("/classify", async Task<Results<Ok<DrawingResult>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, HttpRequest http, ExploreService explore, HttpResponse response) =>
        {
            // JSON only: a form another site posts (no preflight) is not a drawing.
            if (!http.HasJsonContentType())
                return TypedResults.Problem("Send the drawing as Content-Type: application/json.", statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type");
            if (http.ContentLength > MaxDrawingBytes)
                return TypedResults.Problem($"The drawing is {http.ContentLength:N0} bytes; at most {MaxDrawingBytes:N0} are accepted (1024x1024 pixels).", statusCode: 413);
            DrawingRequest? drawing;
            try { drawing = await JsonSerializer.DeserializeAsync<DrawingRequest>(http.Body, JsonSerializerOptions.Web); }
            catch (JsonException e) { return BadRequest($"The drawing is not valid JSON of the form {{\"width\": 280, \"height\": 280, \"pixels\": [0, 0.5, …]}} with numbers in [0, 1]: {e.Message}"); }
            if (drawing?.Pixels is null) return BadRequest("Send {\"width\": W, \"height\": H, \"pixels\": [W·H numbers in [0, 1]]}.");
            return await Guard(async () =>
            {
                var result = await explore.ClassifyDrawingAsync(id, drawing.Pixels, drawing.Width, drawing.Height);
                response.Headers["Server-Timing"] = $"model;dur={result.ServerMilliseconds:F2}";
                return TypedResults.Ok(result);
            });
        });

        runs.MapPost("/explore", async Task<Results<Ok<GridResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, ExploreRequest request, ExploreService explore) =>
            await Guard(async () =>
            {
                var r = await explore.RunAsync(id, request);
                return TypedResults.Ok(new GridResponse(r.Title, r.Epoch, r.Grid.Rows, r.Grid.Cols, r.Grid.Height, r.Grid.Width, r.Grid.Pixels));
            }));

        // The browser plays it (wwwroot/animation.js); the server only sends the numbers: bytes as base64, boxes.
        runs.MapGet("/animation/{kind}", async Task<Results<Ok<RunAnimation>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, string kind, ExploreService explore) =>
            await Guard(async () => TypedResults.Ok(await explore.AnimationAsync(id, kind))));

        // Long (seconds to minutes): a script waits for it; closing the connection cancels it.
        runs.MapPost("/likelihood", async Task<Results<Ok<LikelihoodEstimate>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, LikelihoodRequest request, ExploreService explore, HttpContext http) =>
            await Guard(async () => TypedResults.Ok(await explore.EstimateLikelihoodAsync(id, request.K, request.Images, cancellationToken: http.RequestAborted))));

        return app;
    }

    /// <summary>k importance samples per image on the first <paramref name="Images"/> test images.</summary>
    public sealed record LikelihoodRequest(int K = 100, int Images = 1000);

    static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: 400, title: "Bad request");

    /// <summary>Bad input → 400 with the reason; an unknown run or one without a checkpoint → 404; a model that cannot do it → 409.</summary>
    internal static async Task<Results<T, ProblemHttpResult, NotFound<ProblemDetails>>> Guard<T>(Func<Task<T>> action) where T : IResult
    {
        try { return await action(); }
        catch (ModelUnavailableException e) { return TypedResults.NotFound(new ProblemDetails { Title = "No model", Detail = e.Message, Status = 404 }); }
        catch (Drawing.InvalidDrawingException e) { return BadRequest(e.Message); }
        catch (ArgumentException e) { return BadRequest(e.Message); }
        catch (InvalidOperationException e) { return TypedResults.Problem(e.Message, statusCode: 409, title: "Not possible with this model"); }
    }
}
