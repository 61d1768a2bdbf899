using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VaeWeb.Testing;

/// <summary>
/// The warnings and errors one test server logged, kept in memory so that a failing test can say what the server saw
/// (the console log of a server inside the test host is not shown by <c>dotnet test</c>).
/// </summary>
public sealed class ServerLog : ILoggerProvider
{
    readonly ConcurrentQueue<string> _lines = new();

    public void Add(string line) => _lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");

    /// <summary>Everything logged at Warning or above, oldest first, one entry per line.</summary>
    public override string ToString() => _lines.IsEmpty ? "(the server logged no warnings)" : string.Join(Environment.NewLine, _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    sealed class Logger(ServerLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel level) => level >= LogLevel.Warning;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(level)) log.Add($"{level} {category}: {formatter(state, exception)}{(exception is null ? "" : Environment.NewLine + exception)}");
        }
    }
}
