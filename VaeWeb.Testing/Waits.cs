using System.Diagnostics;

namespace VaeWeb.Testing;

/// <summary>Polling with a deadline that fails loudly: a wait that runs out says what it was waiting for.</summary>
public static class Waits
{
    /// <summary>
    /// Polls <paramref name="condition"/> every <paramref name="pollInterval"/> (100 ms) until it holds; after
    /// <paramref name="timeout"/> throws a <see cref="TimeoutException"/> that names <paramref name="what"/>
    /// (evaluated then, so it can describe the last state seen).
    /// </summary>
    public static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, TimeSpan? pollInterval = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting until {what()}.");
            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(100));
        }
    }

    public static Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? pollInterval = null) =>
        WaitUntil(condition, timeout, () => what, pollInterval);

    public static Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what, TimeSpan? pollInterval = null) =>
        WaitUntil(() => Task.FromResult(condition()), timeout, () => what, pollInterval);
}
