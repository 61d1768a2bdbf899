namespace VaeWeb.Engine.Worker;

/// <summary>
/// The names of the engine hub's methods, shared by the server and every worker (embedded or remote): one protocol.
/// Worker → server: <see cref="Ready"/>, <see cref="Report"/>, <see cref="UploadCheckpoint"/>, <see cref="Finish"/>.
/// Server → worker: <see cref="StartRun"/>, <see cref="ResumeRun"/>, <see cref="CancelRun"/>.
/// </summary>
public static class WorkerProtocol
{
    public const string HubPath = "/hubs/engine";

    /// <summary>(string workerName): the worker is idle and takes the next queued run.</summary>
    public const string Ready = "Ready";
    /// <summary>(long runId, string eventJson): one <see cref="Training.TrainingEvent"/>, serialized with its "type".</summary>
    public const string Report = "Report";
    /// <summary>
    /// (long runId, int epoch, long length, IAsyncEnumerable&lt;byte[]&gt; chunks): the latest checkpoint's weights
    /// (model.pt), streamed in chunks of at most <see cref="CheckpointChunkBytes"/>: the largest valid model's
    /// checkpoint is over 400 MB, and no single hub message may be larger than <see cref="MaximumMessageBytes"/>.
    /// </summary>
    public const string UploadCheckpoint = "UploadCheckpoint";
    public const int CheckpointChunkBytes = 256 * 1024;
    /// <summary>The engine hub's message limit: an epoch's image grids (≈ 200 KB of JSON) or one checkpoint chunk.</summary>
    public const int MaximumMessageBytes = 1024 * 1024;
    /// <summary>(long runId, string outcome, string? error): outcome is "completed", "cancelled" or "failed".</summary>
    public const string Finish = "Finish";

    /// <summary>(long runId, string configJson): a new run, in an empty run folder.</summary>
    public const string StartRun = "StartRun";
    /// <summary>(long runId, string configJson, int epoch): continue the run from the resume state of that epoch in its folder.</summary>
    public const string ResumeRun = "ResumeRun";
    /// <summary>(long runId)</summary>
    public const string CancelRun = "CancelRun";
}
