using System.CommandLine;
using VaeWeb.Engine.Cli;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;

namespace VaeWeb.Engine.Worker;

static class WorkerCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "Base URL of the VaeWeb server, e.g. http://vaeweb-host:5298/.", Required = true };
        server.Validators.Add(r =>
        {
            if (!Uri.TryCreate(r.GetValueOrDefault<string>(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                r.AddError($"--server must be an http(s) URL such as http://vaeweb-host:5298/ (got '{r.GetValueOrDefault<string>()}').");
        });
        var token = new Option<string>("--token") { Description = "The server's worker token (its data/worker-token file, or Engine:WorkerToken).", Required = true };
        var runs = new Option<string>("--runs") { Description = "Folder for run folders and checkpoints on this machine.", DefaultValueFactory = _ => "runs" };
        var name = new Option<string>("--name")
        {
            Description = "This worker's name on the server (unique among the workers of a cluster: a worker that reconnects gets its run back by it).",
            DefaultValueFactory = _ => Environment.MachineName,
        };
        var dataDir = CliOptions.DataDirectory();
        var command = new Command("worker", "Serve a VaeWeb server as a training worker: take queued runs, train them here, stream results back.")
        {
            server, token, runs, name, dataDir,
        };
        command.SetAction(async (parse, stopping) =>
        {
            TorchRuntime.EnsureInitialized();
            using var datasets = new DatasetCache(parse.GetValue(dataDir));
            await using var worker = new EngineWorker(new Uri(parse.GetValue(server)!), parse.GetValue(token)!, parse.GetValue(runs)!, datasets, Console.WriteLine)
            {
                Name = parse.GetValue(name)!,
            };
            try { await worker.RunAsync(stopping); }
            catch (OperationCanceledException) { }
            catch (UnauthorizedAccessException e) { return CliOptions.Fail(e.Message); }
            return 0;
        });
        return command;
    }
}
