using VaeWeb.Server.Explore;

namespace VaeWeb.Tests.Web;

/// <summary>A gallery's provenance names the settings its view used, and only those (issue 9).</summary>
public class ExploreRequestTests
{
    static string[] Names(ExploreRequest r) => [.. r.Settings().Select(s => s.Name)];

    [Fact]
    public void Each_view_lists_only_the_settings_it_uses()
    {
        Assert.Equal(["temperature", "seed"], Names(new() { View = ExploreViews.Samples, Region = "top", Count = 3, Spherical = true }));
        Assert.Equal(["test digit"], Names(new() { View = ExploreViews.Restyle, TestIndex = 7, Temperature = 0.5 }));
        Assert.Equal(["test digit", "erased", "completions", "missing pixels", "seed"], Names(new() { View = ExploreViews.Complete, TestIndex = 2 }));
        Assert.Equal(["from test digit", "to test digit", "steps", "path"], Names(new() { View = ExploreViews.Interpolate, TestIndex = 1, ToTestIndex = 2 }));
        Assert.Equal(["grid", "label"], Names(new() { View = ExploreViews.Manifold, Steps = 20, Label = 3 }));
        Assert.Equal(["input"], Names(new() { View = ExploreViews.Classify, Drawing = new byte[784] }));
    }

    [Fact]
    public void A_brushed_completion_says_the_mask_is_stored()
    {
        var erased = new ExploreRequest { View = ExploreViews.Complete, Region = "mask", Mask = new byte[784], TestIndex = 0 }.Settings()
            .Single(s => s.Name == "erased").Value;
        Assert.Contains("brushed", erased);
    }
}
