using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Server.Engine;

/// <summary>
/// Where training workers connect (see <see cref="VaeWeb.Engine.Worker.WorkerProtocol"/>). Only clients presenting the
/// worker token get in; a worker may only report on the run it was given.
/// </summary>
[Authorize(AuthenticationSchemes = WorkerAuthenticationHandler.SchemeName, Roles = WorkerAuthenticationHandler.Role)]
public sealed class EngineHub(RunDispatcher dispatcher, RunRecorder recorder) : Hub
{
    public Task Ready(string workerName) => dispatcher.WorkerReadyAsync(Context.ConnectionId, workerName);

    public async Task Report(long runId, string eventJson)
    {
        var config = Assigned(runId);
        TrainingEvent e;
        try { e = JsonSerializer.Deserialize<TrainingEvent>(eventJson, RunConfig.Json) ?? throw new JsonException("it is empty"); }
        catch (JsonException ex) { throw new HubException($"Run {runId}: not a training event ({ex.Message})."); }
        // A diverged loss ends the run (the numbers never reach the database); any other bad report is refused.
        if (TrainingDivergedException.Describe(e) is { } diverged)
        {
            await dispatcher.FailAsync(Context.ConnectionId, runId, diverged);
            return;
        }
        if (WorkerMessages.Problem(e, config) is { } problem) throw new HubException($"Run {runId}: {problem}");
        await recorder.RecordAsync(runId, e);
    }

    /// <summary>The checkpoint arrives in chunks (see <see cref="WorkerProtocol.UploadCheckpoint"/>).</summary>
    public async Task UploadCheckpoint(long runId, int epoch, long length, IAsyncEnumerable<byte[]> chunks)
    {
        var config = Assigned(runId);
        if (epoch < 1 || epoch > config.Epochs) throw new HubException($"Run {runId}: a checkpoint of epoch {epoch}, but the run has epochs 1 to {config.Epochs}.");
        if (length is <= 0 or > WorkerMessages.MaximumCheckpointBytes)
            throw new HubException($"Run {runId}: a checkpoint of {length:N0} bytes; it must be between 1 byte and {WorkerMessages.MaximumCheckpointBytes:N0}.");
        await recorder.SaveCheckpointAsync(runId, epoch, length, chunks, Context.ConnectionAborted);
    }

    public async Task Finish(long runId, string outcome, string? error)
    {
        _ = Assigned(runId);
        dispatcher.RunEnded(Context.ConnectionId, runId);
        var status = outcome switch
        {
            "completed" => RunStatus.Completed,
            "cancelled" => RunStatus.Cancelled,
            _ => RunStatus.Failed,
        };
        await recorder.FinishAsync(runId, status, error);
    }

    public override Task OnDisconnectedAsync(Exception? exception) => dispatcher.WorkerGoneAsync(Context.ConnectionId);

    RunConfig Assigned(long runId) => dispatcher.ConfigOf(Context.ConnectionId, runId)
        ?? throw new HubException($"Run {runId} is not assigned to this worker.");
}
