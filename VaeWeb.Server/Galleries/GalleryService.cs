using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Explore;

namespace VaeWeb.Server.Galleries;

/// <summary>Galleries: explore results saved with their provenance under an unguessable short id.</summary>
public sealed class GalleryService(IDbContextFactory<VaeWebDb> dbs, ExploreService explore)
{
    const string Alphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";  // no 0/O, 1/l/I look-alikes
    const int IdLength = 12;                                                 // 56^12 ≈ 2^70: not guessable, still short

    public static JsonSerializerOptions Json => RunConfig.Json;
    // Not indented: an animation is thousands of numbers, and its JSON is what the browser fetches as it is stored.
    static readonly JsonSerializerOptions Compact = new(JsonSerializerDefaults.Web);

    /// <summary>Makes the view's images now and saves them with the request, run and checkpoint that made them.</summary>
    public async Task<Gallery> CreateAsync(long runId, ExploreRequest request)
    {
        var result = await explore.RunAsync(runId, request);
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().FirstAsync(r => r.Id == runId);
        var gallery = new Gallery
        {
            Id = RandomNumberGenerator.GetString(Alphabet, IdLength),
            RunId = runId,
            RunName = run.Name,
            CheckpointEpoch = result.Epoch,
            ConfigJson = run.ConfigJson,
            RequestJson = JsonSerializer.Serialize(request, Json),
            Title = result.Title,
            Rows = result.Grid.Rows,
            Cols = result.Grid.Cols,
            Height = result.Grid.Height,
            Width = result.Grid.Width,
            Pixels = result.Grid.Pixels,
            AnimationJson = result.Animation is { } animation ? JsonSerializer.Serialize(animation, Compact) : null,
            CreatedAt = DateTime.UtcNow,
        };
        db.Galleries.Add(gallery);
        await db.SaveChangesAsync();
        return gallery;
    }

    /// <summary>The drawing in steps a gallery keeps, or null (its model draws in one step, or it predates animations).</summary>
    public static Animation? AnimationOf(Gallery gallery) =>
        gallery.AnimationJson is { } json ? JsonSerializer.Deserialize<Animation>(json, Compact) : null;

    /// <summary>The gallery's picture: its images, and for a drawing in steps the final canvases over a strip of its steps.</summary>
    public static ImageGrid ImageOf(Gallery gallery) =>
        AnimationOf(gallery)?.WithStrip() ?? new ImageGrid(gallery.Rows, gallery.Cols, gallery.Height, gallery.Width, gallery.Pixels);

    static bool IsId(string id) => id.Length == IdLength && id.All(Alphabet.Contains);

    public async Task<Gallery?> FindAsync(string id)
    {
        if (!IsId(id)) return null;
        await using var db = await dbs.CreateDbContextAsync();
        return await db.Galleries.AsNoTracking().FirstOrDefaultAsync(g => g.Id == id);
    }

    /// <summary>Deletes a gallery; its link then finds nothing. False when there is no such gallery.</summary>
    public async Task<bool> DeleteAsync(string id)
    {
        if (!IsId(id)) return false;
        await using var db = await dbs.CreateDbContextAsync();
        return await db.Galleries.Where(g => g.Id == id).ExecuteDeleteAsync() > 0;
    }

    public sealed record Regeneration(bool Identical, int DifferingPixels, string Message);

    /// <summary>
    /// Makes the gallery's images again from its provenance and compares them byte for byte. Needs the run, at the
    /// same checkpoint: a run that trained on (or was deleted) since cannot reproduce them, and says so.
    /// </summary>
    public async Task<Regeneration> RegenerateAsync(Gallery gallery)
    {
        var request = JsonSerializer.Deserialize<ExploreRequest>(gallery.RequestJson, Json)!;
        ExploreResult result;
        try { result = await explore.RunAsync(gallery.RunId, request); }
        catch (ModelUnavailableException e) { return new(false, -1, $"Cannot regenerate: {e.Message}"); }
        if (result.Epoch != gallery.CheckpointEpoch)
            return new(false, -1, $"Cannot regenerate exactly: run {gallery.RunId}'s checkpoint is now epoch {result.Epoch}, the gallery was made at epoch {gallery.CheckpointEpoch}.");
        int differing = result.Grid.Pixels.Zip(gallery.Pixels).Count(p => p.First != p.Second);
        return differing == 0
            ? new(true, 0, $"Regenerated from the provenance: all {gallery.Pixels.Length:N0} pixels identical.")
            : new(false, differing, $"Regenerated: {differing:N0} of {gallery.Pixels.Length:N0} pixels differ.");
    }
}
