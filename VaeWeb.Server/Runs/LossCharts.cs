using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// The traces of a run's charts and how new points map onto them. Charts start from the stored history and then only
/// grow: new points are appended with ExtendTraces, the history is never redrawn for a point. Which charts, and which
/// metric each curve shows, the run's model declares (<see cref="ModelInfo.AllCharts"/>): the page draws whatever it
/// declares, and never asks what type of model it is.
/// </summary>
public sealed class LossCharts
{
    public IReadOnlyList<MetricChart> Charts { get; }
    public IList<ITrace>[] Data { get; }

    public LossCharts(RunConfig config)
    {
        Charts = config.Info?.ChartsFor(config.Image) ?? [MetricCharts.Quality];
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

    public static Layout Layout(MetricChart chart) => Layout(chart.Title, chart.YTitle, logScale: chart.LogScale);

    public static Layout Layout(string title, string yTitle, string xTitle = "step", bool logScale = false) => new()
    {
        Title = new Title { Text = title },
        XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle }, DTick = xTitle == "epoch" ? 1 : null }],
        YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle }, Type = logScale ? Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Log : null }],
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
        for (int c = 0; c < Charts.Count; c++)
            for (int i = 0; i < Charts[c].Traces.Count; i++)
                if (Charts[c].Traces[i] is var t && t.Scope == scope && t.Metric == metric)
                {
                    yield return (c, i);
                    break;
                }
    }

    /// <summary>Whether chart <paramref name="chart"/> has no point in any trace.</summary>
    public bool IsEmpty(int chart) => Data[chart].All(t => ((Scatter)t).X.Count == 0);

    static void Append(Scatter trace, long step, double value)
    {
        trace.X.Add(step);
        trace.Y.Add(value);
    }

    static IList<ITrace> Traces(IReadOnlyList<MetricTrace> specs) => specs.Select(s => (ITrace)new Scatter
    {
        Name = s.Label,
        Mode = s.Scope == "step" ? ModeFlag.Lines : ModeFlag.Lines | ModeFlag.Markers,
        X = new List<object>(),
        Y = new List<object>(),
    }).ToList();
}
