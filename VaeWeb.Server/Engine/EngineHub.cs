using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using VaeWeb.Engine.Training;
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

    public Task Report(long runId, string eventJson)
    {
        EnsureAssigned(runId);
        var e = JsonSerializer.Deserialize<TrainingEvent>(eventJson, RunConfig.Json) ?? throw new HubException("Empty training event.");
        return recorder.RecordAsync(runId, e);
    }

    public Task SaveCheckpoint(long runId, int epoch, byte[] model)
    {
        EnsureAssigned(runId);
        return recorder.SaveCheckpointAsync(runId, epoch, model);
    }

    public async Task Finish(long runId, string outcome, string? error)
    {
        EnsureAssigned(runId);
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

    void EnsureAssigned(long runId)
    {
        if (!dispatcher.IsRunning(Context.ConnectionId, runId))
            throw new HubException($"Run {runId} is not assigned to this worker.");
    }
}
