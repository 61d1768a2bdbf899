using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// The traces of a run's two loss charts and how new points map onto them. Charts start from the stored history and
/// then only grow: new points are appended with ExtendTraces, the history is never redrawn for a point.
/// </summary>
public sealed class LossCharts
{
    /// <summary>(scope, metric) of each trace, in trace order; scope "step" is per logged step, "train"/"test" per epoch.</summary>
    public static readonly (string Scope, string Metric, string Label)[] ElboTraces =
        [("step", Metrics.Elbo, "train ELBO (step)"), ("train", Metrics.Elbo, "train ELBO (epoch)"), ("test", Metrics.Elbo, "test ELBO (epoch)")];
    public static readonly (string Scope, string Metric, string Label)[] TermTraces =
    [
        ("step", Metrics.Reconstruction, "reconstruction (step)"), ("step", Metrics.Kl, "KL (step)"),
        ("test", Metrics.Reconstruction, "test reconstruction (epoch)"), ("test", Metrics.Kl, "test KL (epoch)"),
    ];

    public IList<ITrace> Elbo { get; } = Traces(ElboTraces);
    public IList<ITrace> Terms { get; } = Traces(TermTraces);

    public static Config Config => new() { Responsive = true, DisplayLogo = false };

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
                Append((Scatter)(chart == 0 ? Elbo : Terms)[trace], point.Step, point.Value);
    }

    /// <summary>The new points an event brings as (chart: 0 = ELBO, 1 = terms; trace index; step; value), for ExtendTraces.</summary>
    public static List<(int Chart, int Trace, long Step, double Value)> PointsOf(TrainingEvent e)
    {
        IEnumerable<(string Scope, long Step, IReadOnlyDictionary<string, double> Metrics)> groups = e switch
        {
            StepReport s => [("step", s.Step, s.Metrics)],
            EpochReport r => [("train", r.Step, r.Train), ("test", r.Step, r.Test)],
            _ => [],
        };
        return [.. from g in groups from m in g.Metrics from t in Targets(g.Scope, m.Key) select (t.Chart, t.Trace, g.Step, m.Value)];
    }

    static IEnumerable<(int Chart, int Trace)> Targets(string scope, string metric)
    {
        int i = Array.FindIndex(ElboTraces, t => t.Scope == scope && t.Metric == metric);
        if (i >= 0) yield return (0, i);
        int j = Array.FindIndex(TermTraces, t => t.Scope == scope && t.Metric == metric);
        if (j >= 0) yield return (1, j);
    }

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
