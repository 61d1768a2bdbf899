using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;

namespace VaeWeb.Tests.Engine;

/// <summary>A run stopped mid-epoch and resumed ends exactly as the same run uninterrupted: weights, metrics and images.</summary>
public class ResumeTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    static RunConfig Small(string model) => new()
    {
        Model = model, Epochs = 3, Hidden = [200, 200], Latent = 20, TrainLimit = 1000, TestLimit = 300, Seed = 5, Labels = 100, M1Epochs = 1,
    };

    /// <summary>Trains into a new folder; cancelled at the first step report of epoch <paramref name="stopInEpoch"/>, if given.</summary>
    static string Train(RunConfig config, int? stopInEpoch = null)
    {
        var folder = TempFolders.Create("vaeweb-resume-").FullName;
        using var stop = new CancellationTokenSource();
        try
        {
            Trainer.Run(config, Mnist.Value.Train, Mnist.Value.Test, folder, e => { if (e is StepReport s && s.Epoch == stopInEpoch) stop.Cancel(); }, stop.Token);
            Assert.Null(stopInEpoch);
        }
        catch (OperationCanceledException) when (stopInEpoch is not null) { }
        return folder;
    }

    static TrainingResult Resume(string folder, List<TrainingEvent>? events = null, int? epoch = null) =>
        Trainer.Resume(folder, _ => Mnist.Value, events is null ? null : events.Add, epoch);

    static List<string> Metrics(string folder) => new RunFolder(folder).ComputedMetrics();

    [Theory]
    [InlineData(ModelKind.Vae)]
    [InlineData(ModelKind.M2)]                                             // labeled stream, validation, kept best epoch
    [InlineData(ModelKind.M1M2)]                                           // the last stage's inputs come from the first
    public void A_run_stopped_mid_epoch_and_resumed_equals_the_uninterrupted_run(string model)
    {
        var config = Small(model);
        var whole = Train(config);
        var stopped = Train(config, stopInEpoch: 2);
        Assert.Equal([1], new RunFolder(stopped).ResumeEpochs());
        Assert.Contains(Metrics(stopped), line => line.Contains("\"epoch\":2"));      // a partial epoch, dropped on resume

        var events = new List<TrainingEvent>();
        var result = Resume(stopped, events);

        Assert.Equal(Metrics(whole), Metrics(stopped));
        Assert.Equal(File.ReadAllBytes(new RunFolder(whole).ModelFile), File.ReadAllBytes(new RunFolder(stopped).ModelFile));
        Assert.Equal(File.ReadAllBytes(new RunFolder(whole).SamplesFile(3)), File.ReadAllBytes(new RunFolder(stopped).SamplesFile(3)));
        Assert.Equal([2, 3], events.OfType<EpochReport>().Select(r => r.Epoch));
        Assert.Equal(events.OfType<EpochReport>().Select(r => (r.Epoch, r.Step)), events.OfType<EpochSaved>().Select(s => (s.Epoch, s.Step)));
        Assert.Equal(Trainer.Run(config, Mnist.Value.Train, Mnist.Value.Test).FinalTest, result.FinalTest);
        Assert.Equal([2, 3], new RunFolder(stopped).ResumeEpochs());            // the last two are kept
    }

    [Fact]
    public void Resuming_from_an_earlier_epoch_drops_what_came_after_and_a_finished_run_trains_nothing()
    {
        var config = Small(ModelKind.Vae);
        var whole = Train(config);
        var again = Train(config);
        Resume(again, epoch: 2);
        Assert.Equal(Metrics(whole), Metrics(again));

        var events = new List<TrainingEvent>();
        Resume(again, events);
        Assert.Empty(events.OfType<StepReport>());
        Assert.Equal(Metrics(whole), Metrics(again));
    }

    [Fact]
    public void A_run_stopped_before_its_first_epoch_ended_starts_again()
    {
        var config = Small(ModelKind.Vae) with { Epochs = 1 };
        var whole = Train(config);
        var stopped = Train(config, stopInEpoch: 1);
        Assert.Empty(new RunFolder(stopped).ResumeEpochs());
        Resume(stopped);
        Assert.Equal(Metrics(whole), Metrics(stopped));
    }

    [Fact]
    public void Resuming_a_folder_without_a_run_says_so()
    {
        var empty = TempFolders.Create("vaeweb-resume-").FullName;
        var e = Assert.Throws<FileNotFoundException>(() => Resume(empty));
        Assert.Contains("config.json", e.Message);
    }
}
