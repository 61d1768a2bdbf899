using Microsoft.EntityFrameworkCore;

namespace VaeWeb.Server.Data;

public enum RunStatus { Queued, Running, Completed, Failed, Cancelled, Interrupted }

/// <summary>A training run as the app knows it; the engine's RunConfig is kept as its JSON.</summary>
public sealed class Run
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public required string ConfigJson { get; set; }
    public RunStatus Status { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    /// <summary>Fraction of all steps done, updated at each epoch (live progress between epochs is in memory).</summary>
    public double Progress { get; set; }
    /// <summary>Epochs whose resume state the worker has written (it writes it last): what the checkpoint and images agree with.</summary>
    public int EpochsDone { get; set; }
    /// <summary>
    /// The global step of the last epoch saved for resuming (null: none yet). Resuming drops the points past it and
    /// continues from <see cref="EpochsDone"/>; a run with none starts again from the beginning.
    /// </summary>
    public long? ResumeStep { get; set; }

    /// <summary>A run that stopped before its end, for a reason that is not its own (cancelled, interrupted), can continue.</summary>
    public bool CanResume => Status is RunStatus.Interrupted or RunStatus.Cancelled && StartedAt is not null;
    /// <summary>
    /// The test ELBO of the checkpoint kept (nats per image): the latest epoch's, or for runs with a validation set the
    /// epoch with the lowest validation error. Not a maximum over test-set epochs, which would select on the test set.
    /// </summary>
    public double? TestElbo { get; set; }
    /// <summary>Semi-supervised runs: the lowest validation error so far (%) and the test error of that epoch (%).</summary>
    public double? BestValidationError { get; set; }
    public double? TestErrorAtBest { get; set; }
    public string? Worker { get; set; }
    /// <summary>Why the run failed or was interrupted, in words for the user.</summary>
    public string? Error { get; set; }
}

/// <summary>One number of a run: Scope "step" (per logged step), "train" or "test" (per epoch).</summary>
public sealed class MetricPoint
{
    public long Id { get; set; }
    public long RunId { get; set; }
    public required string Scope { get; set; }
    public required string Name { get; set; }
    public int Epoch { get; set; }
    public long Step { get; set; }
    public double Value { get; set; }
}

/// <summary>An epoch's image grid ("samples" or "reconstructions") as raw 8-bit pixels.</summary>
public sealed class EpochImage
{
    public long Id { get; set; }
    public long RunId { get; set; }
    public int Epoch { get; set; }
    public required string Kind { get; set; }
    public int Rows { get; set; }
    public int Cols { get; set; }
    public int Height { get; set; }
    public int Width { get; set; }
    public required byte[] Pixels { get; set; }
}

/// <summary>The latest checkpoint of a run (model.pt bytes), so explore features work whichever worker trained it.</summary>
public sealed class RunCheckpoint
{
    public long RunId { get; set; }
    public int Epoch { get; set; }
    public required byte[] Model { get; set; }
}

/// <summary>
/// A shared view of a trained model: its images and everything needed to make them again (provenance). The id is
/// random and unguessable; it is the gallery's URL, /g/{id}.
/// </summary>
public sealed class Gallery
{
    public required string Id { get; set; }
    /// <summary>No foreign key: a gallery outlives its run (it keeps its images; only regeneration needs the run).</summary>
    public long RunId { get; set; }
    public required string RunName { get; set; }
    public int CheckpointEpoch { get; set; }
    public required string ConfigJson { get; set; }
    /// <summary>The explore request that made the images (view, seed, temperature, input digit, …), as JSON.</summary>
    public required string RequestJson { get; set; }
    public required string Title { get; set; }
    public int Rows { get; set; }
    public int Cols { get; set; }
    /// <summary>Each image's size in pixels (galleries made before these columns are 28x28: the migration's default).</summary>
    public int Height { get; set; }
    public int Width { get; set; }
    public required byte[] Pixels { get; set; }
    /// <summary>For a model that draws in steps, the drawing of these images (an Animation, as JSON): the gallery plays it.</summary>
    public string? AnimationJson { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>
/// The app's database. This type is the SQLite one (its migrations are in Data/Migrations); <see cref="PostgresVaeWebDb"/>
/// is the same model on PostgreSQL, with migrations of its own (EF Core's one context type per provider).
/// </summary>
public class VaeWebDb : DbContext
{
    public VaeWebDb(DbContextOptions<VaeWebDb> options) : base(options) { }
    protected VaeWebDb(DbContextOptions options) : base(options) { }

    public DbSet<Run> Runs => Set<Run>();
    public DbSet<MetricPoint> Metrics => Set<MetricPoint>();
    public DbSet<EpochImage> Images => Set<EpochImage>();
    public DbSet<RunCheckpoint> Checkpoints => Set<RunCheckpoint>();
    public DbSet<Gallery> Galleries => Set<Gallery>();

    /// <summary>
    /// Deletes what <paramref name="run"/> recorded after its last saved epoch (metric points past its resume step,
    /// images past its epochs done) and, when it saved none, its kept checkpoint's figures: what resuming it records again.
    /// </summary>
    public async Task ForgetPastSavedEpochAsync(Run run)
    {
        var saved = run.ResumeStep ?? long.MinValue;                        // M1+M2's pre-training steps are ≤ 0
        await Metrics.Where(m => m.RunId == run.Id && m.Step > saved).ExecuteDeleteAsync();
        await Images.Where(i => i.RunId == run.Id && i.Epoch > run.EpochsDone).ExecuteDeleteAsync();
        if (run.ResumeStep is null)
            await Runs.Where(r => r.Id == run.Id).ExecuteUpdateAsync(u => u.SetProperty(r => r.TestElbo, (double?)null)
                .SetProperty(r => r.BestValidationError, (double?)null).SetProperty(r => r.TestErrorAtBest, (double?)null));
    }

    // SQLite keeps no DateTimeKind: every time is stored as UTC and comes back marked UTC.
    protected override void ConfigureConventions(ModelConfigurationBuilder conventions) =>
        conventions.Properties<DateTime>().HaveConversion<UtcConverter>();

    sealed class UtcConverter() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
        v => v.ToUniversalTime(), v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<Run>().Property(r => r.Status).HasConversion<string>();
        model.Entity<MetricPoint>().HasIndex(m => new { m.RunId, m.Step });
        model.Entity<EpochImage>().HasIndex(i => new { i.RunId, i.Epoch });
        model.Entity<RunCheckpoint>().HasKey(c => c.RunId);
        foreach (var child in new[] { typeof(MetricPoint), typeof(EpochImage), typeof(RunCheckpoint) })
            model.Entity(child).HasOne(typeof(Run)).WithMany().HasForeignKey("RunId").OnDelete(DeleteBehavior.Cascade);
    }
}
