using Microsoft.Playwright;

namespace VaeWeb.Testing;

/// <summary>Debian's Chromium (/usr/bin/chromium) driven by Playwright; nothing is downloaded.</summary>
public static class Chromium
{
    public const string Executable = "/usr/bin/chromium";

    /// <summary>Headless, with the flags that keep its blocked background traffic quiet on a closed network.</summary>
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"Chromium is not installed at {Executable}: run scripts/setup --tests (apt-get install chromium).");
        return playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Executable,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
        });
    }
}
