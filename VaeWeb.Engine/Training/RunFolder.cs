using System.Text.Json;
using VaeWeb.Engine.Imaging;
using VaeWeb.Engine.Models;

namespace VaeWeb.Engine.Training;

/// <summary>A new run was pointed at a folder that already holds files (another run's, or anything else).</summary>
public sealed class RunFolderInUseException(string path)
    : IOException($"The folder {path} is not empty: a run starts in an empty folder, so that its metrics are its own. Choose another output folder, or delete that one.");

/// <summary>
/// A run's folder: config.json, metrics.jsonl (one JSON object per report), model.pt + checkpoint.json (the latest
/// epoch; the config inside wins on resume), and samples-epochNNN.png grids.
/// </summary>
public sealed class RunFolder
{
    public string Path { get; }
    public RunFolder(string path) { Path = System.IO.Path.GetFullPath(path); Directory.CreateDirectory(Path); }

    /// <summary>Where a worker keeps the files of the server's run <paramref name="runId"/>.</summary>
    public static string Of(string runsDirectory, long runId) => System.IO.Path.Combine(runsDirectory, $"run-{runId}");

    /// <summary>
    /// The folder of a new run: it must be empty or not exist. metrics.jsonl is only ever appended to, so a second run
    /// in the same folder would mix its lines with the first's, and a minimum over the file would span both runs.
    /// </summary>
    public static RunFolder CreateNew(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new RunFolderInUseException(full);
        return new RunFolder(full);
    }

    public string ConfigFile => File("config.json");
    public string MetricsFile => File("metrics.jsonl");
    public string ModelFile => File("model.pt");
    public string CheckpointFile => File("checkpoint.json");
    public string SamplesFile(int epoch) => File($"samples-epoch{epoch:D3}.png");

    public void WriteConfig(RunConfig config) => WriteAtomically(ConfigFile, path => System.IO.File.WriteAllText(path, config.ToJson()));

    static readonly JsonSerializerOptions JsonLines = new(RunConfig.Json) { WriteIndented = false };

    public void AppendMetrics(TrainingEvent report) =>
        System.IO.File.AppendAllText(MetricsFile, JsonSerializer.Serialize(report, JsonLines) + "\n");

    public void WriteSamples(int epoch, ImageGrid grid) => WriteAtomically(SamplesFile(epoch), path => System.IO.File.WriteAllBytes(path, Png.EncodeGrid(grid)));

    public void SaveCheckpoint(TorchSharp.torch.nn.Module model, RunConfig config, int epoch)
    {
        WriteAtomically(ModelFile, path => model.save(path));
        var checkpoint = new Checkpoint(epoch, config);
        WriteAtomically(CheckpointFile, path => System.IO.File.WriteAllText(path, JsonSerializer.Serialize(checkpoint, RunConfig.Json)));
    }

    /// <summary>The model of the checkpoint kept (the latest, or the best-validation one), built from the config saved with it.</summary>
    public (GenerativeModel Model, Checkpoint Checkpoint) LoadCheckpoint()
    {
        if (!System.IO.File.Exists(CheckpointFile) || !System.IO.File.Exists(ModelFile))
            throw new FileNotFoundException($"No checkpoint in {Path}: expected checkpoint.json and model.pt, written at the end of each epoch by 'train'.");
        var checkpoint = JsonSerializer.Deserialize<Checkpoint>(System.IO.File.ReadAllText(CheckpointFile), RunConfig.Json)
            ?? throw new InvalidDataException($"{CheckpointFile} is empty.");
        var model = ModelRegistry.Create(checkpoint.Config);
        model.load(ModelFile);
        return (model, checkpoint);
    }

    string File(string name) => System.IO.Path.Combine(Path, name);

    // A crash mid-write leaves the previous file intact, never half of a new one.
    static void WriteAtomically(string path, Action<string> write)
    {
        var temp = path + ".tmp";
        write(temp);
        System.IO.File.Move(temp, path, overwrite: true);
    }
}

public sealed record Checkpoint(int Epoch, RunConfig Config);
