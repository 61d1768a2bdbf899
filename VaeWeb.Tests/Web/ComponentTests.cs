using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Tests.Web;

/// <summary>Components rendered with bUnit, backed by the app's real services (throw-away database, no worker).</summary>
public sealed class ComponentTests : IAsyncLifetime
{
    readonly BunitContext _context = new();
    VaeWebServer _server = null!;

    public Task InitializeAsync()
    {
        _server = VaeWebServer.Start(embeddedWorker: false);
        _context.JSInterop.Mode = JSRuntimeMode.Loose;
        _context.Services.AddMudServices();
        _context.Services.AddSingleton(_server.Services.GetRequiredService<RunService>());
        _context.Services.AddSingleton(_server.Services.GetRequiredService<VaeWeb.Server.Catalog.DatasetCatalog>());   // the form asks whether SVHN's files are here
        _context.Render<MudPopoverProvider>();
        return Task.CompletedTask;
    }

    [Fact]
    public void New_run_form_rejects_a_billion_epochs_and_huge_layers_with_clear_messages_and_disables_start()
    {
        var form = _context.Render<NewRunPage>();

        // Found afresh each time: every input re-renders the form.
        void Type(string label, string value) =>
            form.FindAll("input").Single(i => i.ParentElement!.ParentElement!.TextContent.Contains(label)).Input(value);
        Type("Epochs", "1000000000");
        Type("Hidden sizes", "500, 1000000");

        form.WaitForAssertion(() =>
        {
            Assert.Contains("Epochs must be between 1 and 1000 (got 1000000000).", form.Markup);
            Assert.Contains("Each hidden layer must have 1 to 4096 units (got 1000000).", form.Markup);
            Assert.True(form.FindAll("button").Single(b => b.TextContent.Contains("Start")).HasAttribute("disabled"));
        });
        Type("Hidden sizes", "500, five");
        form.WaitForAssertion(() => Assert.Contains("'five' is not a whole number", form.Markup));
    }

    [Fact]
    public void Semi_supervised_fields_appear_for_m2_and_validate_labels_and_alpha()
    {
        _context.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>()
            .NavigateTo("/runs/new?preset=" + Uri.EscapeDataString("Poster: FC M2, 600 labels"));
        var form = _context.Render<NewRunPage>();
        void Type(string label, string value) =>
            form.FindAll("input").Single(i => i.ParentElement!.ParentElement!.TextContent.Contains(label)).Input(value);

        Assert.Contains("Labeled images", form.Markup);
        Assert.Contains("Train / validation split", form.Markup);
        Type("Labeled images", "605");
        Type("Alpha", "-2");
        form.WaitForAssertion(() =>
        {
            Assert.Contains("Labels must be a multiple of 10", form.Markup);
            Assert.Contains("Alpha must be 0 (automatic) or positive (got -2).", form.Markup);
            Assert.True(form.FindAll("button").Single(b => b.TextContent.Contains("Start")).HasAttribute("disabled"));
        });
        Type("Labeled images", "100");
        Type("Alpha", "0");
        form.WaitForAssertion(() => Assert.False(form.FindAll("button").Single(b => b.TextContent.Contains("Start")).HasAttribute("disabled")));

        // A plain VAE has no labeled-count field.
        _context.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs/new");
        var vae = _context.Render<NewRunPage>();
        Assert.DoesNotContain("Labeled images", vae.Markup);
    }

    [Theory]
    [InlineData("Poster: FC VAE", true, null)]
    [InlineData("Paper: DRAW with attention", true, null)]
    [InlineData("DRAW-GAN, 90 minutes", true, "Adversarial weight (λ)")]
    [InlineData("VAE-GAN", false, "Gamma (γ)")]
    [InlineData("CVAE-GAN", false, "Gamma (γ)")]
    public void The_binarization_field_shows_only_for_models_that_binarize_and_each_gan_shows_its_weight(string preset, bool binarizes, string? weight)
    {
        _context.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs/new?preset=" + Uri.EscapeDataString(preset));
        var form = _context.Render<NewRunPage>();
        Assert.Equal(binarizes, form.Markup.Contains(">Binarization<"));
        foreach (var field in new[] { "Adversarial weight (λ)", "Gamma (γ)" })
            Assert.Equal(field == weight, form.Markup.Contains(field));
    }

    [Fact]
    public void Status_chip_names_the_status()
    {
        var chip = _context.Render<RunStatusChip>(p => p.Add(c => c.Status, RunStatus.Interrupted));
        Assert.Equal("interrupted", chip.Find("[data-testid=run-status]").TextContent.Trim());
    }

    [Fact]
    public void Presets_fill_the_form_with_valid_configs()
    {
        foreach (var preset in RunForm.Presets)
        {
            var form = new RunForm();
            form.Apply(preset.Config);
            Assert.Empty(form.Errors());
            Assert.Equal(preset.Config.ToJson(), form.ToConfig().Config!.ToJson());
        }
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }
}
