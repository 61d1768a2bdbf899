namespace VaeWeb.Engine.Worker;

/// <summary>
/// The names of the engine hub's methods, shared by the server and every worker (embedded or remote): one protocol.
/// Worker → server: <see cref="Ready"/>, <see cref="Report"/>, <see cref="SaveCheckpoint"/>, <see cref="Finish"/>.
/// Server → worker: <see cref="StartRun"/>, <see cref="CancelRun"/>.
/// </summary>
public static class WorkerProtocol
{
    public const string HubPath = "/hubs/engine";

    /// <summary>(string workerName): the worker is idle and takes the next queued run.</summary>
    public const string Ready = "Ready";
    /// <summary>(long runId, string eventJson): one <see cref="Training.TrainingEvent"/>, serialized with its "type".</summary>
    public const string Report = "Report";
    /// <summary>(long runId, int epoch, byte[] model): the latest checkpoint's weights (model.pt).</summary>
    public const string SaveCheckpoint = "SaveCheckpoint";
    /// <summary>(long runId, string outcome, string? error): outcome is "completed", "cancelled" or "failed".</summary>
    public const string Finish = "Finish";

    /// <summary>(long runId, string configJson)</summary>
    public const string StartRun = "StartRun";
    /// <summary>(long runId)</summary>
    public const string CancelRun = "CancelRun";
}
