using System.Net;

namespace VaeWeb.Tests.Web;

public class StaticAssetsTests
{
    static string RepositoryFile(params string[] path)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VaeWeb.sln"))) return Path.Combine([dir.FullName, .. path]);
        throw new FileNotFoundException("The repository root (VaeWeb.sln) is not above the test binaries.");
    }

    /// <summary>The top-level wwwroot is a static web asset at /vaeweb/ (`dotnet publish` copies it into the app's wwwroot).</summary>
    [Fact]
    public async Task The_drawing_code_of_the_top_level_wwwroot_is_served_fingerprinted_and_plain()
    {
        await using var server = VaeWebServer.Start(embeddedWorker: false);
        using var http = server.CreateClient();

        var html = await http.GetStringAsync("/");
        var script = Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<script src=\"(vaeweb/vaeweb\\.[a-z0-9]+\\.js)\"")).Groups[1].Value;
        var expected = await File.ReadAllTextAsync(RepositoryFile("wwwroot", "vaeweb.js"));
        Assert.Equal(expected, await http.GetStringAsync(script));
        Assert.Equal(expected, await http.GetStringAsync("/vaeweb/vaeweb.js"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/vaeweb/missing.js")).StatusCode);
    }
}
