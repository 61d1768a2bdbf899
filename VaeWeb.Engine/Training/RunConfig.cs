using System.Text.Json;
using System.Text.Json.Serialization;
using VaeWeb.Engine.Data;

namespace VaeWeb.Engine.Training;

public enum ModelKind { Vae }
public enum Architecture { Fc, Conv }

/// <summary>How pixel intensities in [0, 1] become the data the Bernoulli likelihood scores.</summary>
public enum Binarization
{
    /// <summary>A fresh Bernoulli sample of every image at every step (Salakhutdinov &amp; Murray 2008); the usual MNIST benchmark.</summary>
    Dynamic,
    /// <summary>Grey levels used as soft targets of the cross-entropy ("continuous BCE"): not a likelihood, but sharper means.</summary>
    None,
}

/// <summary>
/// Everything that defines a training run. Saved as config.json in the run folder and inside each checkpoint;
/// on resume the saved config wins over the command line.
/// </summary>
public sealed record RunConfig
{
    public ModelKind Model { get; init; } = ModelKind.Vae;
    public Architecture Arch { get; init; } = Architecture.Fc;
    public string Dataset { get; init; } = "mnist";
    public int Latent { get; init; } = 50;
    /// <summary>Hidden layer widths of the FC encoder; the decoder mirrors them. 500-500 is the poster's network.</summary>
    public int[] Hidden { get; init; } = [500, 500];
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 100;
    public double LearningRate { get; init; } = 1e-3;
    public long Seed { get; init; } = 1;
    public Binarization Binarize { get; init; } = Binarization.Dynamic;
    /// <summary>Train on the first N training images only (0 = all). For quick tests and demos on 2 cores.</summary>
    public int TrainLimit { get; init; }
    /// <summary>Evaluate on the first N test images only (0 = all).</summary>
    public int TestLimit { get; init; }

    // Bounds that keep one request from taking the server down (memory, hours of CPU); generous for real work.
    public const int MaxEpochs = 1000, MaxLatent = 512, MaxHiddenWidth = 4096, MaxHiddenLayers = 4, MaxBatch = 4096;

    /// <summary>Every problem with this config, as (field, message); empty when it can be trained.</summary>
    public IReadOnlyList<(string Field, string Message)> Validate()
    {
        var errors = new List<(string, string)>();
        void Check(bool ok, string field, string message) { if (!ok) errors.Add((field, message)); }
        Check(Datasets.Names.Contains(Dataset), nameof(Dataset), $"Unknown dataset '{Dataset}'. Use one of: {string.Join(", ", Datasets.Names)}.");
        Check(Latent is >= 1 and <= MaxLatent, nameof(Latent), $"Latent size must be between 1 and {MaxLatent} (got {Latent}).");
        Check(Hidden is { Length: >= 1 and <= MaxHiddenLayers }, nameof(Hidden), $"Give 1 to {MaxHiddenLayers} hidden layer widths (got {Hidden?.Length ?? 0}).");
        foreach (var width in Hidden ?? [])
            Check(width is >= 1 and <= MaxHiddenWidth, nameof(Hidden), $"Each hidden layer must have 1 to {MaxHiddenWidth} units (got {width}).");
        Check(Epochs is >= 1 and <= MaxEpochs, nameof(Epochs), $"Epochs must be between 1 and {MaxEpochs} (got {Epochs}).");
        Check(BatchSize is >= 1 and <= MaxBatch, nameof(BatchSize), $"Batch size must be between 1 and {MaxBatch} (got {BatchSize}).");
        Check(LearningRate is > 0 and <= 1 && double.IsFinite(LearningRate), nameof(LearningRate), $"Learning rate must be in (0, 1] (got {LearningRate}).");
        Check(TrainLimit >= 0, nameof(TrainLimit), "Train limit must be 0 (all) or a positive count.");
        Check(TestLimit >= 0, nameof(TestLimit), "Test limit must be 0 (all) or a positive count.");
        return errors;
    }

    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new InvalidConfigException(errors);
    }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static RunConfig FromJson(string json) => JsonSerializer.Deserialize<RunConfig>(json, Json)
        ?? throw new InvalidDataException("Empty run config.");
}

public sealed class InvalidConfigException(IReadOnlyList<(string Field, string Message)> errors)
    : ArgumentException(string.Join(" ", errors.Select(e => e.Message)))
{
    public IReadOnlyList<(string Field, string Message)> Errors { get; } = errors;
}
