using System.Text.Json;
using VaeWeb.Engine.Imaging;
using VaeWeb.Engine.Models;

namespace VaeWeb.Engine.Training;

/// <summary>A new run was pointed at a folder that already holds files (another run's, or anything else).</summary>
public sealed class RunFolderInUseException(string path)
    : IOException($"The folder {path} is not empty: a run starts in an empty folder, so that its metrics are its own. Choose another output folder, or delete that one.");

/// <summary>
/// A run's folder: config.json, metrics.jsonl (one JSON object per report), model.pt + checkpoint.json (the checkpoint
/// kept: the latest epoch, or the best validation one), samples-epochNNN.png grids, and resume-epochNNN.bin, what
/// continuing the run needs (the last two epochs'; the config inside wins on resume).
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
    public string ResumeFile(int epoch) => File($"resume-epoch{epoch:D3}.bin");

    /// <summary>The folder of a run to resume: it must hold the run's config.json.</summary>
    public static RunFolder Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!System.IO.File.Exists(System.IO.Path.Combine(full, "config.json")))                // checked before the constructor makes the folder
            throw new FileNotFoundException($"No run to resume in {full}: it has no config.json, which 'train' writes before the first step.");
        return new RunFolder(full);
    }

    public RunConfig ReadConfig() => RunConfig.FromJson(System.IO.File.ReadAllText(ConfigFile));

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

    /// <summary>
    /// Writes the state of the end of <see cref="ResumeState.Epoch"/>, then deletes all but it and the one before: the
    /// server may resume from the epoch before, when the news of this one never reached it.
    /// </summary>
    public void SaveResumeState(ResumeState state, ResumeTensors tensors)
    {
        WriteAtomically(ResumeFile(state.Epoch), path =>
        {
            using var writer = new BinaryWriter(System.IO.File.Create(path));
            tensors.Write(writer, state);
        });
        foreach (var old in ResumeEpochs().Where(e => e < state.Epoch - 1)) System.IO.File.Delete(ResumeFile(old));
    }

    /// <summary>The epochs a resume state is kept of, in order.</summary>
    public IEnumerable<int> ResumeEpochs() => Directory.EnumerateFiles(Path, "resume-epoch*.bin")
        .Select(f => int.TryParse(System.IO.Path.GetFileNameWithoutExtension(f)["resume-epoch".Length..], out var e) ? e : -1)
        .Where(e => e >= 0).Order();

    /// <summary>
    /// The resume state of <paramref name="epoch"/> (null: the latest), or null when there is none to resume from:
    /// epoch 0, or a run that ended before its first epoch of the last stage (it restarts from the beginning).
    /// </summary>
    public (ResumeState State, ResumeTensors Tensors)? LoadResumeState(int? epoch = null)
    {
        var chosen = epoch ?? ResumeEpochs().DefaultIfEmpty(0).Max();
        if (chosen == 0) return null;
        if (!System.IO.File.Exists(ResumeFile(chosen)))
            throw new FileNotFoundException($"No resume state of epoch {chosen} in {Path} (it has {string.Join(", ", ResumeEpochs().Select(e => $"epoch {e}").DefaultIfEmpty("none"))}): resume the run on the worker that trained it.");
        using var reader = new BinaryReader(System.IO.File.OpenRead(ResumeFile(chosen)));
        return ResumeTensors.Read(reader);
    }

    /// <summary>
    /// Drops every metrics line past global step <paramref name="lastStep"/> (and a line cut short by a kill), so a
    /// resumed run appends each step once: what an interrupted epoch wrote is written again when it runs again.
    /// </summary>
    public void TruncateMetrics(long lastStep)
    {
        if (!System.IO.File.Exists(MetricsFile)) return;
        var kept = System.IO.File.ReadLines(MetricsFile).TakeWhile(line => StepOf(line) is { } step && step <= lastStep).ToList();
        WriteAtomically(MetricsFile, path => System.IO.File.WriteAllLines(path, kept));
    }

    /// <summary>
    /// The metrics lines without what depends on the clock (rates, times): every number the run computed, in order,
    /// so that a resumed run can be compared line for line with the same run uninterrupted.
    /// </summary>
    public List<string> ComputedMetrics() =>
    [
        .. System.IO.File.ReadLines(MetricsFile).Select(line =>
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
            foreach (var timing in new[] { "imagesPerSecond", "elapsed", "eta", "epochDuration" }) node.Remove(timing);
            return node.ToJsonString();
        }),
    ];

    /// <summary>The global step of a metrics line, or null when it is not whole JSON.</summary>
    public static long? StepOf(string line)
    {
        try { return System.Text.Json.Nodes.JsonNode.Parse(line)?["step"]?.GetValue<long>(); }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// The model of the checkpoint kept (the latest, or the best-validation one), built from the config saved with it, in
    /// evaluation mode (no dropout, no noise layers, batch norm's running statistics), as training scored it.
    /// </summary>
    public (GenerativeModel Model, Checkpoint Checkpoint) LoadCheckpoint()
    {
        if (!System.IO.File.Exists(CheckpointFile) || !System.IO.File.Exists(ModelFile))
            throw new FileNotFoundException($"No checkpoint in {Path}: expected checkpoint.json and model.pt, written at the end of each epoch by 'train'.");
        var checkpoint = JsonSerializer.Deserialize<Checkpoint>(System.IO.File.ReadAllText(CheckpointFile), RunConfig.Json)
            ?? throw new InvalidDataException($"{CheckpointFile} is empty.");
        var model = ModelRegistry.Create(checkpoint.Config);
        model.load(ModelFile);
        model.eval();
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
