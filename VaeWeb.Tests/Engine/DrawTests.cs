using VaeWeb.Engine.Data;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>DRAW (Gregor et al. 2015) on real digits: its attention, its loss, its frames and its likelihood bound.</summary>
public class DrawTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    public DrawTests() => _ = Mnist.Value;                                 // loads libtorch (with its repair) before any tensor

    static Tensor Digits(int n, int from = 0) => Mnist.Value.Test.Images.narrow(0, from, n);

    [Fact]
    public void A_28x28_filterbank_with_unit_stride_and_narrow_filters_reads_and_writes_the_image_itself()
    {
        using var scope = NewDisposeScope();
        var bank = new GaussianFilterbank(hidden: 3, n: 28);
        using (no_grad())
        {
            // h = 0: the placement is the bias alone. g̃ = 0 centres the grid (gX = 14.5), log δ̃ = 0 gives stride
            // (28 − 1)/(28 − 1) = 1, so filter i sits on pixel i; log σ² = −6 makes each filter nearly one pixel wide.
            foreach (var p in bank.parameters()) p.zero_();
            bank.parameters().Last().copy_(tensor(new float[] { 0, 0, -6, 0, 0 }));
        }
        var (fx, fy, gamma, window) = bank.forward(zeros(2, 3));
        Assert.Equal([2L, 28, 28], fx.shape);
        Assert.True(fx.sum(2).sub(1).abs().max().item<float>() < 1e-5, "every filter sums to 1");
        Assert.Equal(14.5f, window.CentreX[0].item<float>(), 4);
        Assert.Equal(1f, window.Stride[0].item<float>(), 4);
        // 28 filters a pixel apart about the centre: the box spans their centres, from the first pixel's to the last's.
        Assert.All(window.Box()[0].data<float>().ToArray().Zip(new[] { 0.5f, 0.5f, 27.5f, 27.5f }), b => Assert.Equal(b.Second, b.First, 3));

        var x = Digits(2);
        var glimpse = GaussianFilterbank.Read(x, fx, fy, gamma, 28, 28);
        Assert.True(glimpse.sub(x).abs().max().item<float>() < 1e-2, "the full-size glimpse is the image");
        var written = GaussianFilterbank.Write(glimpse, fx, fy, gamma, 28);
        Assert.True(written.sub(x).abs().max().item<float>() < 2e-2, "writing the glimpse back gives the image");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Draw_learns_real_digits_and_draws_them_in_t_frames(bool attention)
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        using var model = new Draw(zSize: 8, hidden: 64, steps: 6, attention: attention, readSize: 3, writeSize: 5);
        var generator = new Generator(7);
        model.Noise = generator;
        var train = Evaluation.Binarize(Mnist.Value.Train.Images.narrow(0, 500, 200), Binarization.Dynamic, generator);
        using var adam = new FusedAdam(model.parameters(), 3e-3);
        double Objective() { using var _ = no_grad(); return model.Loss(new Batch(train)).Objective.item<float>(); }
        var before = Objective();
        for (int step = 0; step < 60; step++)
        {
            using var stepScope = NewDisposeScope();
            adam.zero_grad();
            var loss = model.Loss(new Batch(train));
            loss.Objective.backward();
            adam.step();
        }
        var after = Objective();
        Assert.True(after < before - 100, $"negative ELBO {before:F1} → {after:F1} nats after 60 steps");

        // Frames: T canvases, each in [0, 1], the last one the sample itself, and each step's write window as a box.
        var z = randn(new long[] { 3, model.Latent }, generator: new Generator(1));
        using (no_grad())
        {
            var steps = model.Frames(z, null);
            var frames = steps.Canvases;
            Assert.Equal([6L, 3, 784], frames.shape);
            Assert.True(frames[-1].sub(model.Decode(z, null)).abs().max().item<float>() < 1e-6);
            Assert.InRange(frames.min().item<float>(), 0, 1);
            Assert.InRange(frames.max().item<float>(), 0, 1);
            Assert.Null(steps.Reads);                                        // sampling reads nothing
            if (attention)
            {
                Assert.Equal([6L, 3, 4], steps.Writes!.shape);
                Assert.True(steps.Writes[.., .., 2].gt(steps.Writes[.., .., 0]).all().item<bool>(), "a box's right edge is right of its left");
                Assert.True(steps.Writes[0].sub(steps.Writes[-1]).abs().max().item<float>() > 1e-3, "the write window moves between steps");
            }
            else Assert.Null(steps.Writes);                                  // no window: the write is the whole canvas

            // A reconstruction step by step: its last canvas is Reconstruct's, and every step read somewhere.
            var x = train.narrow(0, 0, 3);
            var reconstruction = model.ReconstructionFrames(x, null);
            Assert.Equal([6L, 3, 784], reconstruction.Canvases.shape);
            Assert.True(reconstruction.Canvases[-1].sub(model.Reconstruct(x, null)).abs().max().item<float>() < 1e-6);
            Assert.Equal(attention ? [6L, 3, 4] : null, reconstruction.Reads?.shape);
            Assert.Equal(attention ? [6L, 3, 4] : null, reconstruction.Writes?.shape);
        }
    }

    [Fact]
    public void An_animation_as_bytes_ends_on_its_images_and_its_still_adds_a_strip_of_the_first_ones_steps()
    {
        using var scope = NewDisposeScope();
        // Three steps of a 1x2 grid of 2x2 images, every pixel of step t image i worth 10·t + i.
        var frames = Enumerable.Range(0, 3).SelectMany(t => Enumerable.Range(0, 2).SelectMany(i => Enumerable.Repeat((byte)(10 * t + i), 4))).ToArray();
        var animation = new Animation(3, 1, 2, 2, 2, frames, null, null, null);
        Assert.Equal([20, 20, 20, 20, 21, 21, 21, 21], animation.Final.Pixels);
        var still = animation.WithStrip();
        Assert.Equal((2, 2), (still.Rows, still.Cols));
        // The last row: the first image at 2 evenly spaced steps, the last one last.
        Assert.Equal([20, 20, 20, 20, 21, 21, 21, 21, 10, 10, 10, 10, 20, 20, 20, 20], still.Pixels);

        // From a model's steps: the bytes the grid would have, and boxes to the hundredth of a pixel.
        var steps = new DrawingSteps(full(new long[] { 2, 1, 784 }, VaeWeb.Engine.Native.Scalars.Of(0.5)), full(new long[] { 2, 1, 4 }, VaeWeb.Engine.Native.Scalars.Of(1.23456)));
        var fromModel = Animation.Of(steps, 1, 1);
        Assert.Equal((2, 28, 28), (fromModel.Steps, fromModel.Height, fromModel.Width));
        Assert.All(fromModel.Frames, b => Assert.Equal(128, b));
        Assert.All(fromModel.Writes!, v => Assert.Equal(1.23f, v));
        Assert.Null(fromModel.Reads);
    }

    [Fact]
    public void The_importance_weighted_bound_is_at_least_the_elbo_and_tightens_with_k()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = new Draw(zSize: 4, hidden: 32, steps: 4, attention: true);
        model.eval();
        using var _ = no_grad();
        var x = Evaluation.Binarize(Digits(50), Binarization.Dynamic, new Generator(5));
        var elbo = -model.Loss(new Batch(x)).Objective.item<float>();
        var iw1 = model.ImportanceWeightedLogLikelihood(x, 1, new Generator(9)).mean().item<float>();
        var iw200 = model.ImportanceWeightedLogLikelihood(x, 200, new Generator(9)).mean().item<float>();
        Assert.Equal(elbo, iw1, 0.05 * Math.Abs(elbo));                     // k = 1 is the ELBO, up to the noise of one draw
        Assert.True(iw200 > iw1, $"IW bound k = 200: {iw200:F2} ≤ k = 1: {iw1:F2}");
    }
}
