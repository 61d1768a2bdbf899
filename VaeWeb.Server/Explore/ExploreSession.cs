using Microsoft.JSInterop;
using Plotly.Blazor;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Galleries;

namespace VaeWeb.Server.Explore;

/// <summary>
/// What the explore page's tabs share, and what each tab keeps while another is shown (MudTabs renders only the active
/// panel): the run's model, the chosen digit or drawing, the seed, the last result of every view, the error and the
/// last shared gallery. The page owns it and re-renders when it <see cref="Changed"/>.
/// </summary>
public sealed class ExploreSession(long runId, RunConfig config, int epoch, ExploreService explore, GalleryService galleries, IJSRuntime js)
{
    public long RunId => runId;
    public RunConfig Config => config;
    public ExploreService Explore => explore;
    /// <summary>The checkpoint's epoch, as of the last result (a training run saves newer ones).</summary>
    public int Epoch { get; private set; } = epoch;
    public int LatentSize { get; init; }
    public int TestCount { get; init; }
    public string? Error { get; set; }
    public string? GalleryUrl { get; private set; }
    readonly Dictionary<string, ExploreResult> _results = [];

    // The input digit (restyle, complete, interpolation's start) and the seed (samples, completions).
    public int Digit { get; set; }
    public long Seed { get; set; } = 1;
    public byte[]? Drawing { get; private set; }
    public bool UseDrawing { get; private set; }

    // Each tab's settings, kept across tab switches.
    public double Temperature { get; set; } = 1;
    public string Region { get; set; } = "bottom";
    public bool SampleMissing { get; set; }
    public int Count { get; set; } = 6;
    public int ToDigit { get; set; } = 1;
    public bool Spherical { get; set; }
    public int ManifoldLabel { get; set; }
    public LatentMap? Latent { get; set; }
    public IList<ITrace>? LatentTraces { get; set; }
    public ImageGrid? Clicked { get; set; }
    public int ClickedIndex { get; set; }

    /// <summary>Something the page shows (error, gallery link, checkpoint epoch) changed.</summary>
    public event Action? Changed;

    public ExploreResult? Result(string view) => _results.GetValueOrDefault(view);

    /// <summary>The request on the chosen input: the drawing when the user chose it, else the test digit.</summary>
    public ExploreRequest WithDigit(ExploreRequest r) => UseDrawing && Drawing is not null ? r with { Drawing = Drawing } : r with { TestIndex = Digit };

    public Task Show(ExploreRequest request) => Try(async () =>
    {
        var result = await explore.RunAsync(runId, request);
        _results[request.View] = result;
        Epoch = result.Epoch;
        // The same seed and temperature draw the same z [100, latent] for any model of that latent size.
        Compared = request.View == ExploreViews.Samples && CompareWith is { } other ? await explore.RunAsync(other.Id, request) : null;
    });

    /// <summary>Samples: another run whose decoder draws the same z beside this one's (a VAE and a VAE-GAN of one size).</summary>
    public VaeWeb.Server.Data.Run? CompareWith { get; set; }
    public ExploreResult? Compared { get; private set; }

    public Task Share(ExploreRequest request) => Try(async () =>
    {
        var gallery = await galleries.CreateAsync(runId, request);
        GalleryUrl = $"/g/{gallery.Id}";
    });

    /// <summary>Runs an explore call; the user's mistakes and what the model cannot do become the page's error.</summary>
    public async Task Try(Func<Task> action)
    {
        try
        {
            await action();
            Error = null;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ModelUnavailableException) { Error = e.Message; }
        Changed?.Invoke();
    }

    public void Fail(string error)
    {
        Error = error;
        Changed?.Invoke();
    }

    /// <summary>The last drawing of the Draw tab's pad (784 bytes, MNIST-like), or null when nothing was drawn.</summary>
    public async Task<byte[]?> LastDrawing() => await js.InvokeAsync<int[]?>("vaeweb.getLastDrawing") is { } d ? d.Select(v => (byte)v).ToArray() : null;

    /// <summary>Restyle and complete work on the last drawing from now on.</summary>
    public async Task UseLastDrawing()
    {
        if (await LastDrawing() is not { } drawing) { Fail("Draw a digit on the Draw tab first."); return; }
        Drawing = drawing;
        UseDrawing = true;
        Error = null;
        Changed?.Invoke();
    }
}
