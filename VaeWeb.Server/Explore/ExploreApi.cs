using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Imaging;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Galleries;

namespace VaeWeb.Server.Explore;

/// <summary>The explore views over HTTP: the drawing pad calls classify straight from the browser, for speed.</summary>
public static class ExploreApi
{
    /// <summary>A drawing as the pad sends it: width·height intensities in [0, 1], row-major.</summary>
    public sealed record DrawingRequest(int Width, int Height, float[] Pixels);
    public sealed record GridResponse(string Title, int Epoch, int Rows, int Cols, int Height, int Width, byte[] Pixels);
    public sealed record GalleryCreated(string Id, string Url);

    /// <summary>The largest drawing body accepted: a 1024x1024 pad as JSON numbers, with room to spare.</summary>
    public const long MaxDrawingBytes = 16 * 1024 * 1024;

    public static IEndpointRouteBuilder MapExploreApi(this IEndpointRouteBuilder app)
    {
        var runs = app.MapGroup("/api/runs/{id:long}").DisableAntiforgery();

        runs.MapPost("/classify", async Task<Results<Ok<DrawingResult>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, HttpRequest http, ExploreService explore, HttpResponse response) =>
        {
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

        runs.MapPost("/galleries", async Task<Results<Created<GalleryCreated>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, ExploreRequest request, GalleryService galleries) =>
            await Guard(async () =>
            {
                var gallery = await galleries.CreateAsync(id, request);
                return TypedResults.Created($"/g/{gallery.Id}", new GalleryCreated(gallery.Id, $"/g/{gallery.Id}"));
            }));

        var shared = app.MapGroup("/api/galleries").DisableAntiforgery();
        shared.MapGet("/{id}", async Task<Results<Ok<Data.Gallery>, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.FindAsync(id) is { } g ? TypedResults.Ok(g) : NoGallery(id));
        shared.MapPost("/{id}/regenerate", async Task<Results<Ok<GalleryService.Regeneration>, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.FindAsync(id) is { } g ? TypedResults.Ok(await galleries.RegenerateAsync(g)) : NoGallery(id));

        // The gallery's image as a PNG: its Open Graph preview, and its download (?download=1).
        app.MapGet("/g/{id}.png", async Task<Results<FileContentHttpResult, NotFound<ProblemDetails>>> (string id, string? download, GalleryService galleries) =>
        {
            if (await galleries.FindAsync(id) is not { } g) return NoGallery(id);
            var png = Png.EncodeGrid(new ImageGrid(g.Rows, g.Cols, 28, 28, g.Pixels));
            return TypedResults.File(png, "image/png", download is "1" or "true" ? $"vaeweb-gallery-{g.Id}.png" : null);
        });
        return app;
    }

    static NotFound<ProblemDetails> NoGallery(string id) =>
        TypedResults.NotFound(new ProblemDetails { Title = "No such gallery", Detail = $"There is no gallery '{id}'. Check the link.", Status = 404 });

    static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: 400, title: "Bad request");

    /// <summary>Bad input → 400 with the reason; an unknown run or one without a checkpoint → 404; a model that cannot do it → 409.</summary>
    static async Task<Results<T, ProblemHttpResult, NotFound<ProblemDetails>>> Guard<T>(Func<Task<T>> action) where T : IResult
    {
        try { return await action(); }
        catch (ModelUnavailableException e) { return TypedResults.NotFound(new ProblemDetails { Title = "No model", Detail = e.Message, Status = 404 }); }
        catch (Drawing.InvalidDrawingException e) { return BadRequest(e.Message); }
        catch (ArgumentException e) { return BadRequest(e.Message); }
        catch (InvalidOperationException e) { return TypedResults.Problem(e.Message, statusCode: 409, title: "Not possible with this model"); }
    }
}
