using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VaeWeb.Engine.Data;
using VaeWeb.Server.Catalog;
using VaeWeb.Tests.Data;

namespace VaeWeb.Tests.Web;

/// <summary>
/// The Data page in Chromium, reached from the home page's nav link: every dataset's state and examples, SVHN's
/// instructions, uploads refused with the reason and leaving nothing, and a good upload shown with its counts.
/// The server's data folder is a temporary one (MNIST and Fashion-MNIST linked in from the shared copy), and the
/// expected SVHN files are small SVHN-shaped ones, since the official files are not here.
/// </summary>
public sealed class DataPageTests(Browser browser) : IClassFixture<Browser>, IDisposable
{
    readonly string _data = TempFolders.Create("vaeweb-datapage-").FullName;
    readonly SmallSvhn _svhn = new();

    public void Dispose()
    {
        Directory.Delete(_data, recursive: true);
        Directory.Delete(_svhn.Downloads, recursive: true);
    }

    async Task<VaeWebServer> StartAsync()
    {
        var shared = Path.GetDirectoryName(await Datasets.EnsureAsync("mnist"))!;
        foreach (var name in new[] { "mnist", "fashion-mnist" })
            if (Directory.Exists(Path.Combine(shared, name)))
                Directory.CreateSymbolicLink(Path.Combine(_data, name), Path.Combine(shared, name));
        return VaeWebServer.Start(embeddedWorker: false, settings: new Dictionary<string, string> { ["Engine:DataDirectory"] = _data },
            services: s => s.AddSingleton(new SvhnOptions { Files = _svhn.Specs }));
    }

    static ILocator Card(IPage page, string name) => page.GetByTestId($"dataset-{name}");

    /// <summary>As a person does: the upload button opens the file chooser, which is given the file.</summary>
    static async Task Upload(IPage page, string file)
    {
        var chooser = await page.RunAndWaitForFileChooserAsync(() => Card(page, "svhn").GetByRole(AriaRole.Button, new() { Name = "Upload an SVHN file" }).ClickAsync());
        await chooser.SetFilesAsync(file);
    }

    string[] SvhnFolderFiles() => Directory.Exists(Path.Combine(_data, "svhn")) ? Directory.GetFiles(Path.Combine(_data, "svhn")) : [];

    [Fact]
    public async Task The_data_page_lists_every_dataset_refuses_a_wrong_upload_and_shows_good_svhn_files_with_their_counts()
    {
        await using var server = await StartAsync();
        // Like every page but shared galleries, the Data page (and so its upload) is the signed-in owner's only.
        using (var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.Address })
        {
            using var visit = new HttpRequestMessage(HttpMethod.Get, "/data");
            visit.Headers.Accept.ParseAdd("text/html");
            var response = await anonymous.SendAsync(visit);
            Assert.Equal("/signin?returnUrl=%2Fdata", response.Headers.Location?.PathAndQuery);
        }
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(server.Address.ToString());
        await page.GetByRole(AriaRole.Link, new() { Name = "Data" }).ClickAsync();
        // The page says it is checking the datasets (hashing them, once) before it shows their cards.
        Assert.Equal("/data", await Browser.AddressOnceShownAsync(page.GetByTestId("data-checking").Or(page.GetByTestId("dataset-mnist"))));

        var mnist = Card(page, "mnist");
        await Assertions.Expect(mnist.GetByTestId("dataset-state")).ToHaveTextAsync("present", new() { Timeout = 60_000 });
        await Assertions.Expect(mnist.GetByTestId("dataset-counts")).ToContainTextAsync("60,000 training and 10,000 test images");
        await Assertions.Expect(mnist).ToContainTextAsync("SHA-256 ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db");
        await Assertions.Expect(page.GetByTestId("examples-mnist")).ToHaveAttributeAsync("data-drawn", "20");
        var coloured = Card(page, ColouredMnist.Name);
        await Assertions.Expect(coloured).ToContainTextAsync("Coloured MNIST (SVHN stand-in)");
        await Assertions.Expect(page.GetByTestId($"examples-{ColouredMnist.Name}")).ToHaveAttributeAsync("data-drawn", "20");
        // The stand-in's examples are drawn in colour: some pixel's red, green and blue differ.
        Assert.True(await page.EvaluateAsync<bool>("""
            () => { const c = document.querySelector('[data-testid="examples-mnist-colour"]'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 1]) > 30 || Math.abs(d[i + 1] - d[i + 2]) > 30) return true; return false; }
            """));

        var svhn = Card(page, "svhn");
        await Assertions.Expect(svhn.GetByTestId("dataset-state")).ToHaveTextAsync("missing");
        await Assertions.Expect(svhn.GetByTestId("dataset-message")).ToContainTextAsync("SVHN's files are missing: train_32x32.mat and test_32x32.mat");
        await Assertions.Expect(svhn.GetByTestId("dataset-message")).ToContainTextAsync(Path.Combine(_data, "svhn"));
        await Assertions.Expect(svhn).ToContainTextAsync("http://ufldl.stanford.edu/housenumbers/");
        await Browser.Screenshot(page, "data-1-svhn-missing");

        // A wrong file under an official name: refused with the reason, and nothing is left in data/svhn.
        var wrongFolder = TempFolders.Create("vaeweb-wrong-").FullName;
        var wrong = Path.Combine(wrongFolder, "test_32x32.mat");
        File.WriteAllText(wrong, "<html>404 Not Found</html>");
        await Upload(page, wrong);
        await Assertions.Expect(page.GetByTestId("upload-error")).ToContainTextAsync("test_32x32.mat is 26 bytes; the official file is");
        // The right size but not the file: refused after the upload, by its MD5.
        var bytes = File.ReadAllBytes(_svhn.PathOf("test_32x32.mat"));
        bytes[^3] ^= 0xFF;
        File.WriteAllBytes(wrong, bytes);
        await Upload(page, wrong);
        await Assertions.Expect(page.GetByTestId("upload-error")).ToContainTextAsync("it is corrupt or not the official file");
        Assert.Empty(SvhnFolderFiles());
        await Browser.Screenshot(page, "data-2-wrong-upload-refused");
        Directory.Delete(wrongFolder, recursive: true);

        // Both good files: SVHN is present, with its counts and examples.
        await Upload(page, _svhn.PathOf("test_32x32.mat"));
        await Assertions.Expect(page.GetByTestId("upload-done")).ToContainTextAsync("test_32x32.mat verified and saved: 30 images.");
        await Upload(page, _svhn.PathOf("train_32x32.mat"));
        await Assertions.Expect(page.GetByTestId("upload-done")).ToContainTextAsync("train_32x32.mat verified and saved: 50 images.");
        await Assertions.Expect(svhn.GetByTestId("dataset-state")).ToHaveTextAsync("present", new() { Timeout = 30_000 });
        await Assertions.Expect(svhn.GetByTestId("dataset-counts")).ToContainTextAsync("50 training and 30 test images");
        await Assertions.Expect(svhn).ToContainTextAsync($"MD5 {_svhn.Specs[0].Md5}");
        await Assertions.Expect(page.GetByTestId("examples-svhn")).ToHaveAttributeAsync("data-drawn", "20");
        await Browser.Screenshot(page, "data-3-svhn-uploaded");
        Assert.Equal(["test_32x32.mat", "train_32x32.mat"], SvhnFolderFiles().Select(Path.GetFileName).Where(f => !f!.StartsWith('.')).Order());
        Assert.DoesNotContain(SvhnFolderFiles(), f => f.EndsWith(".upload"));
    }

    [Fact]
    public async Task The_form_disables_svhn_while_its_files_are_missing_and_says_why()
    {
        await using var server = await StartAsync();
        var page = await browser.NewPageAsync(server);
        await page.GotoAsync(new Uri(server.Address, "/runs/new").ToString());
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Dataset" }).WaitForAsync();
        await Assertions.Expect(page.GetByText("SVHN's files are missing: train_32x32.mat and test_32x32.mat")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Dataset" }).ClickAsync();
        var option = page.GetByRole(AriaRole.Option, new() { Name = "SVHN (Street View House Numbers) (files missing)" });
        await Assertions.Expect(option).ToHaveAttributeAsync("aria-disabled", "true");
        await Browser.Screenshot(page, "data-4-form-svhn-disabled");
    }
}
