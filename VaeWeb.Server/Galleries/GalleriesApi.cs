using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Imaging;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Access;
using VaeWeb.Server.Data;
using VaeWeb.Server.Explore;

namespace VaeWeb.Server.Galleries;

/// <summary>A gallery as the API shows it: its images (Rows x Cols images of Height x Width pixels), their provenance, and where their drawing in steps is, if any.</summary>
public sealed record GalleryDto(string Id, string Url, string ImageUrl, string Title, long RunId, string RunName, int CheckpointEpoch,
    RunConfig Config, ExploreRequest Request, int Rows, int Cols, int Height, int Width, byte[] Pixels, string? AnimationUrl, DateTime CreatedAt)
{
    public static GalleryDto From(Gallery g) => new(g.Id, $"/g/{g.Id}", $"/g/{g.Id}.png", g.Title, g.RunId, g.RunName, g.CheckpointEpoch,
        RunConfig.FromJson(g.ConfigJson), JsonSerializer.Deserialize<ExploreRequest>(g.RequestJson, GalleryService.Json)!,
        g.Rows, g.Cols, g.Height, g.Width, g.Pixels, g.AnimationJson is null ? null : $"/api/galleries/{g.Id}/animation", g.CreatedAt);
}

public sealed record GalleryCreated(string Id, string Url);

/// <summary>
/// Galleries over HTTP: share an explore view, read a gallery, regenerate it, delete it, and its PNG. Reading a gallery
/// and its PNG is public (its unguessable URL is the share); making, regenerating (it runs the model) and deleting one needs the owner.
/// </summary>
public static class GalleriesApi
{
    public static IEndpointRouteBuilder MapGalleriesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/runs/{id:long}/galleries", async Task<Results<Created<GalleryCreated>, ProblemHttpResult, NotFound<ProblemDetails>>> (long id, ExploreRequest request, GalleryService galleries) =>
            await ExploreApi.Guard(async () =>
            {
                var gallery = await galleries.CreateAsync(id, request);
                return TypedResults.Created($"/g/{gallery.Id}", new GalleryCreated(gallery.Id, $"/g/{gallery.Id}"));
            })).DisableAntiforgery().RequireRateLimiting(RateLimits.ModelRequests);

        var api = app.MapGroup("/api/galleries").DisableAntiforgery();
        api.MapGet("/{id}", async Task<Results<Ok<GalleryDto>, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.FindAsync(id) is { } g ? TypedResults.Ok(GalleryDto.From(g)) : NoGallery(id)).AllowAnonymous();
        // Public like the gallery: its page plays the drawing in any browser (wwwroot/animation.js fetches this).
        api.MapGet("/{id}/animation", async Task<Results<ContentHttpResult, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.FindAsync(id) is { AnimationJson: { } json } ? TypedResults.Text(json, "application/json")
                : TypedResults.NotFound(new ProblemDetails { Title = "No animation", Detail = $"Gallery '{id}' has no drawing in steps, or does not exist.", Status = 404 })).AllowAnonymous();
        api.MapPost("/{id}/regenerate", async Task<Results<Ok<GalleryService.Regeneration>, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.FindAsync(id) is { } g ? TypedResults.Ok(await galleries.RegenerateAsync(g)) : NoGallery(id)).RequireRateLimiting(RateLimits.ModelRequests);
        api.MapDelete("/{id}", async Task<Results<NoContent, NotFound<ProblemDetails>>> (string id, GalleryService galleries) =>
            await galleries.DeleteAsync(id) ? TypedResults.NoContent() : NoGallery(id));

        // The gallery's image as a PNG: its Open Graph preview, and its download (?download=1).
        app.MapGet("/g/{id}.png", async Task<Results<FileContentHttpResult, NotFound<ProblemDetails>>> (string id, string? download, GalleryService galleries) =>
        {
            if (await galleries.FindAsync(id) is not { } g) return NoGallery(id);
            var png = Png.EncodeGrid(GalleryService.ImageOf(g));
            return TypedResults.File(png, "image/png", download is "1" or "true" ? $"vaeweb-gallery-{g.Id}.png" : null);
        }).AllowAnonymous();
        return app;
    }

    static NotFound<ProblemDetails> NoGallery(string id) =>
        TypedResults.NotFound(new ProblemDetails { Title = "No such gallery", Detail = $"There is no gallery '{id}'. Check the link.", Status = 404 });
}
