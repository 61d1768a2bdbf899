using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using VaeWeb.Engine.Training;
using VaeWeb.Testing;

/// <summary>
/// The server's resume under kill -9: a real VaeWeb.Server process (its embedded worker training in it) is killed with
/// SIGKILL at a random moment of a run, started again on the same database, and the run resumed through
/// POST /api/runs/{id}/resume; again and again. Each run must complete with the stored points of an uninterrupted run of
/// the same config on the same server: the same (scope, name, epoch, step) in the same order with the same values.
/// Needs the server built in the same configuration as this program (building this program builds it).
/// </summary>
static class ResumeStress
{
    static readonly RunConfig Config = new() { Epochs = 4, TrainLimit = 10_000, TestLimit = 500, Hidden = [200, 200], Latent = 20, Seed = 7 };
    const string AccessToken = "resume-stress-token";

    public static async Task<int> RunAsync(int kills, int seed)
    {
        var folder = TempFolders.Create("vaeweb-stress-server-").FullName;
        var database = Path.Combine(folder, "vaeweb.db");
        var random = new Random(seed);
        Console.WriteLine($"resume stress: server {ServerProgram()}, database {database}");
        var server = StartServer(folder);
        try
        {
            using var http = new HttpClient { BaseAddress = server.Address };
            http.DefaultRequestHeaders.Authorization = new("Bearer", AccessToken);
            await WaitForServer(http);
            var reference = await Submit(http, "uninterrupted");
            var clock = Stopwatch.StartNew();
            await WaitFor(http, reference, r => r.Status == "completed", TimeSpan.FromMinutes(10));
            var training = clock.Elapsed;
            var expected = Points(database, reference);
            Console.WriteLine($"uninterrupted: {expected.Count} stored points, {training.TotalSeconds:F1} s from submission to completion");

            int complete = 0, equal = 0;
            long lost = 0, repeated = 0;
            var total = Stopwatch.StartNew();
            for (int i = 1; i <= kills; i++)
            {
                var run = await Submit(http, $"killed {i}");
                await WaitFor(http, run, r => r.Status == "running", TimeSpan.FromMinutes(1));
                var moment = training * random.NextDouble();
                await Task.Delay(moment);
                var atKill = await Summary(http, run);
                server.Process.Kill();                                       // SIGKILL: the worker and the buffered points die with it
                await server.Process.WaitForExitAsync();
                server.Process.Dispose();
                server = StartServer(folder, server.Port);
                await WaitForServer(http);
                var resume = await http.PostAsync($"/api/runs/{run}/resume", null);
                var end = await WaitFor(http, run, r => r.Status is "completed" or "failed" or "cancelled", TimeSpan.FromMinutes(10));
                var got = Points(database, run);
                var keys = got.Select(p => p.Key).ToList();
                long runLost = expected.Select(p => p.Key).Except(keys).Count(), runRepeated = keys.Count - keys.Distinct().Count();
                var same = expected.SequenceEqual(got);
                if (end.Status == "completed") complete++;
                if (same) equal++;
                (lost, repeated) = (lost + runLost, repeated + runRepeated);
                Console.WriteLine($"run {i,2}: killed -9 {moment.TotalSeconds,5:F2} s after it started ({atKill.Status}, {atKill.EpochsDone} epochs done) → " +
                    $"resume {(int)resume.StatusCode}, {end.Status}, {runLost} points lost, {runRepeated} repeated, " +
                    (same ? "points equal to the uninterrupted run's" : "points DIFFER from the uninterrupted run's"));
            }
            Console.WriteLine($"resume stress (server): {complete}/{kills} runs killed with the server and resumed completed, {equal}/{kills} with the " +
                $"uninterrupted run's points, {lost} points lost, {repeated} repeated, in {total.Elapsed.TotalMinutes:F1} min");
            return complete == kills && equal == kills ? 0 : 1;
        }
        finally
        {
            if (!server.Process.HasExited) server.Process.Kill();
        }
    }

    sealed record Server(Process Process, int Port)
    {
        public Uri Address => new($"http://127.0.0.1:{Port}/");
    }

    sealed record RunSummary(long Id, string Status, int EpochsDone);

    /// <summary>The server program built beside this one: VaeWeb.Server/bin/&lt;configuration&gt;/&lt;framework&gt;/VaeWeb.Server.</summary>
    static string ServerProgram() => AppContext.BaseDirectory.Replace("VaeWeb.Benchmarks", "VaeWeb.Server") + "VaeWeb.Server";

    static Server StartServer(string folder, int port = 0)
    {
        if (port == 0)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var program = ServerProgram();
        var start = new ProcessStartInfo(program) { WorkingDirectory = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(program)!, "../../..")), RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["Engine__Database"] = Path.Combine(folder, "vaeweb.db");
        start.Environment["Engine__RunsDirectory"] = Path.Combine(folder, "runs");
        start.Environment["Engine__WorkerToken"] = "resume-stress-worker";
        start.Environment["Auth__Token"] = AccessToken;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 }) Console.Error.WriteLine($"  server: {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Server(process, port);
    }

    static async Task WaitForServer(HttpClient http)
    {
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromMinutes(1); await Task.Delay(100))
        {
            try { if ((await http.GetAsync("/health")).IsSuccessStatusCode) return; }
            catch (HttpRequestException) { }
        }
        throw new TimeoutException("The server did not answer /health within a minute.");
    }

    static async Task<long> Submit(HttpClient http, string name)
    {
        var response = await http.PostAsJsonAsync("/api/runs", new { name, config = Config }, RunConfig.Json);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
    }

    static async Task<RunSummary> Summary(HttpClient http, long run) =>
        (await http.GetFromJsonAsync<RunSummary>($"/api/runs/{run}", RunConfig.Json))!;

    static async Task<RunSummary> WaitFor(HttpClient http, long run, Func<RunSummary, bool> condition, TimeSpan timeout)
    {
        for (var clock = Stopwatch.StartNew(); ; await Task.Delay(50))
        {
            var summary = await Summary(http, run);
            if (condition(summary)) return summary;
            if (clock.Elapsed > timeout) throw new TimeoutException($"Run {run} is still {summary.Status} after {timeout.TotalMinutes} min.");
        }
    }

    sealed record Point(string Scope, string Name, int Epoch, long Step, double Value)
    {
        public string Key => $"{Scope} {Name} {Epoch} {Step}";
    }

    /// <summary>A run's stored points in the order they were stored, straight from the database.</summary>
    static List<Point> Points(string database, long run)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly");
        connection.Open();
        using var query = connection.CreateCommand();
        query.CommandText = "SELECT Scope, Name, Epoch, Step, Value FROM Metrics WHERE RunId = $run ORDER BY Id";
        query.Parameters.AddWithValue("$run", run);
        using var reader = query.ExecuteReader();
        var points = new List<Point>();
        while (reader.Read()) points.Add(new Point(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3), reader.GetDouble(4)));
        return points;
    }
}
