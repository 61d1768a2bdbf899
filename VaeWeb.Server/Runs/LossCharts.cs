using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using VaeWeb.Engine.Quality;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// The traces of a run's two charts and how new points map onto them. Charts start from the stored history and then
/// only grow: new points are appended with ExtendTraces, the history is never redrawn for a point. VAEs and CVAEs chart
/// their ELBO and its two terms; semi-supervised models their classification error and the bounds they minimize.
/// </summary>
public sealed class LossCharts
{
    /// <summary>One chart: its element id prefix, title, y axis, and (scope, metric, label) per trace in trace order.
    /// Scope "step" is per logged step, "train"/"validation"/"test" per epoch.</summary>
    public sealed record Chart(string IdPrefix, string Title, string YTitle, (string Scope, string Metric, string Label)[] Traces)
    {
        /// <summary>What to do when the chart has no points yet for a reason the run cannot fix (null: nothing to say).</summary>
        public string? WhenEmpty { get; init; }
    }

    public static readonly Chart ElboChart = new("elbo", "ELBO (nats per image)", "nats",
        [("step", Metrics.Elbo, "train ELBO (step)"), ("train", Metrics.Elbo, "train ELBO (epoch)"), ("test", Metrics.Elbo, "test ELBO (epoch)")]);
    public static readonly Chart TermsChart = new("terms", "Reconstruction and KL", "nats",
    [
        ("step", Metrics.Reconstruction, "reconstruction (step)"), ("step", Metrics.Kl, "KL (step)"),
        ("test", Metrics.Reconstruction, "test reconstruction (epoch)"), ("test", Metrics.Kl, "test KL (epoch)"),
    ]);
    public static readonly Chart ErrorChart = new("error", "Classification error (%)", "% wrong",
        [("validation", Metrics.Error, "validation error"), ("test", Metrics.Error, "test error")]);
    public static readonly Chart BoundsChart = new("bounds", "Semi-supervised loss terms (per image)", "nats",
    [
        ("step", Metrics.Labeled, "labeled L(x,y) (step)"), ("step", Metrics.Unlabeled, "unlabeled U(x) (step)"),
        ("step", Metrics.Classification, "−log q(y|x) labeled (step)"), ("step", "m1-" + Metrics.Elbo, "M1 ELBO (pre-training, steps ≤ 0)"),
    ]);

    /// <summary>Every model's samples, scored by our classifier each epoch once it has been trained (see SampleQuality).</summary>
    public static readonly Chart QualityChart = new("quality", "Sample quality: Fréchet distance on our classifier (lower is better)", "distance",
        [("test", SampleQuality.Frechet, "samples vs test images (epoch)")])
    {
        WhenEmpty = "No sample-quality scores: the dataset's classifier has not been trained. Train it once with " +
            "`dotnet run --project VaeWeb.Engine -c Release -- classifier`; runs started after that score their samples every epoch.",
    };

    public Chart[] Charts { get; }
    public IList<ITrace>[] Data { get; }

    public LossCharts(RunConfig config)
    {
        Charts = config.IsSemiSupervised ? [ErrorChart, BoundsChart, QualityChart] : [ElboChart, TermsChart, QualityChart];
        Data = [.. Charts.Select(c => Traces(c.Traces))];
    }

    /// <summary>
    /// Every chart of the app uses the same plotly.js bundle, the full one (the latent map needs WebGL). Plotly.Blazor
    /// loads the bundle a chart asks for and, when a page asks for the other one, replaces the script: charts drawn by
    /// the old plotly.js then break under the new one, and calls queued for the previous page's charts throw and drop
    /// the rest of the queue (a drawing that got no prediction, issue 9).
    /// </summary>
    public const bool BasicBundle = false;

    public static Config Config => new() { Responsive = true, DisplayLogo = false };

    public static Layout Layout(Chart chart) => Layout(chart.Title, chart.YTitle);

    public static Layout Layout(string title, string yTitle, string xTitle = "step") => new()
    {
        Title = new Title { Text = title },
        XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle }, DTick = xTitle == "epoch" ? 1 : null }],
        YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle } }],
        Height = 340,
        Margin = new Margin { T = 40, B = 40, L = 60, R = 10 },
        PaperBgColor = "rgba(0,0,0,0)",
        PlotBgColor = "rgba(0,0,0,0)",
    };

    /// <summary>Fills the traces with the history before the charts are first drawn.</summary>
    public void Load(IEnumerable<MetricPoint> history)
    {
        foreach (var point in history)
            foreach (var (chart, trace) in Targets(point.Scope, point.Name))
                Append((Scatter)Data[chart][trace], point.Step, point.Value);
    }

    /// <summary>The new points an event brings as (chart index; trace index; step; value), for ExtendTraces.</summary>
    public List<(int Chart, int Trace, long Step, double Value)> PointsOf(TrainingEvent e)
    {
        IEnumerable<(string Scope, long Step, IReadOnlyDictionary<string, double> Metrics)> groups = e switch
        {
            StepReport s => [("step", s.Step, s.Metrics)],
            EpochReport r => [("train", r.Step, r.Train), ("test", r.Step, r.Test), .. r.Validation is { } v ? [("validation", r.Step, v)] : Array.Empty<(string, long, IReadOnlyDictionary<string, double>)>()],
            _ => [],
        };
        return [.. from g in groups from m in g.Metrics from t in Targets(g.Scope, m.Key) select (t.Chart, t.Trace, g.Step, m.Value)];
    }

    IEnumerable<(int Chart, int Trace)> Targets(string scope, string metric)
    {
        for (int c = 0; c < Charts.Length; c++)
        {
            int i = Array.FindIndex(Charts[c].Traces, t => t.Scope == scope && t.Metric == metric);
            if (i >= 0) yield return (c, i);
        }
    }

    /// <summary>Whether chart <paramref name="chart"/> has no point in any trace.</summary>
    public bool IsEmpty(int chart) => Data[chart].All(t => ((Scatter)t).X.Count == 0);

    static void Append(Scatter trace, long step, double value)
    {
        trace.X.Add(step);
        trace.Y.Add(value);
    }

    static IList<ITrace> Traces((string Scope, string Metric, string Label)[] specs) => specs.Select(s => (ITrace)new Scatter
    {
        Name = s.Label,
        Mode = s.Scope == "step" ? ModeFlag.Lines : ModeFlag.Lines | ModeFlag.Markers,
        X = new List<object>(),
        Y = new List<object>(),
    }).ToList();
}
