using System.Text.Json;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

/// <summary>
/// Where a run stood at the end of an epoch of its last stage, and what continuing it needs besides the tensors of
/// <see cref="ResumeTensors"/>: the epoch and global step done, the best validation error so far with the final
/// numbers of the checkpoint it kept, the training time spent (for time limits) and when the stage began on that
/// clock (for the ETA), the labeled images' position, each
/// optimizer's step count, and the config (it wins over anything given on resume).
/// </summary>
/// <param name="Finished">The run ended at this epoch (its last, or past its time limit): resuming trains nothing.</param>
public sealed record ResumeState(int Epoch, long Step, bool Finished, double? BestValidation, IReadOnlyDictionary<string, double> FinalTest,
    TimeSpan Elapsed, TimeSpan StageStart, long LabeledPosition, long[] OptimizerSteps, RunConfig Config);

/// <summary>
/// The tensors of a resume state by name ("model/…", "adam0/m3", "generator", "labeled"), written as dtype, shape and
/// raw bytes after a JSON header: one file, so one rename makes a new state whole at once.
/// </summary>
public sealed class ResumeTensors : IDisposable
{
    const string Magic = "vaeweb-resume-1";
    readonly Dictionary<string, Tensor> _tensors = [];
    readonly bool _owned;                                                  // read from a file: freed on dispose

    public ResumeTensors() { }
    ResumeTensors(bool owned) => _owned = owned;

    public Tensor this[string name] => _tensors.TryGetValue(name, out var t) ? t
        : throw new InvalidDataException($"The resume state has no tensor '{name}': it was saved by another model or version.");

    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Adds a live tensor, to be written before the next step changes it (it stays the caller's).</summary>
    public void Add(string name, Tensor tensor) => _tensors[name] = tensor;

    public void Write(BinaryWriter writer, ResumeState state)
    {
        writer.Write(Magic);
        writer.Write(JsonSerializer.Serialize(state, RunConfig.Json));
        writer.Write(_tensors.Count);
        foreach (var (name, t) in _tensors)
        {
            writer.Write(name);
            writer.Write((int)t.dtype);
            writer.Write(t.shape.Length);
            foreach (var size in t.shape) writer.Write(size);
            using var scope = NewDisposeScope();                               // the views made to read it, not t
            var bytes = t.detach().cpu().contiguous().bytes;
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
    }

    public static (ResumeState State, ResumeTensors Tensors) Read(BinaryReader reader)
    {
        if (reader.ReadString() != Magic) throw new InvalidDataException("Not a VaeWeb resume state.");
        var state = JsonSerializer.Deserialize<ResumeState>(reader.ReadString(), RunConfig.Json) ?? throw new InvalidDataException("An empty resume state.");
        var tensors = new ResumeTensors(owned: true);
        for (int i = reader.ReadInt32(); i > 0; i--)
        {
            var name = reader.ReadString();
            var dtype = (ScalarType)reader.ReadInt32();
            var shape = new long[reader.ReadInt32()];
            for (int d = 0; d < shape.Length; d++) shape[d] = reader.ReadInt64();
            var t = empty(shape, dtype).DetachFromDisposeScope();
            t.bytes = reader.ReadBytes(reader.ReadInt32());
            tensors._tensors[name] = t;
        }
        return (state, tensors);
    }

    /// <summary>Copies the saved tensor <paramref name="name"/> into <paramref name="target"/>, which must have its shape.</summary>
    public void CopyTo(string name, Tensor target)
    {
        var saved = this[name];
        if (!saved.shape.SequenceEqual(target.shape))
            throw new InvalidDataException($"The resume state's '{name}' is [{string.Join(", ", saved.shape)}], the run's [{string.Join(", ", target.shape)}].");
        using var _ = no_grad();
        target.copy_(saved);
    }

    public void Dispose()
    {
        if (_owned) foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
