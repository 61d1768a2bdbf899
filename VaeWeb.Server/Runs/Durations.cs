namespace VaeWeb.Server.Runs;

/// <summary>Durations as a person reads them: "0.8 s", "42 s", "3 min 05 s", "1 h 02 min" (a second-resolution
/// hh:mm:ss said "00:00:00" for a run of 0.8 s).</summary>
public static class Durations
{
    public static string Format(TimeSpan t)
    {
        if (t < TimeSpan.Zero) t = TimeSpan.Zero;
        if (t.TotalSeconds < 10) return $"{t.TotalSeconds:0.0} s";
        if (t.TotalMinutes < 1) return $"{t.TotalSeconds:0} s";
        if (t.TotalHours < 1) return $"{(int)t.TotalMinutes} min {t.Seconds:00} s";
        return $"{(int)t.TotalHours} h {t.Minutes:00} min";
    }
}
