using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

public class M2Tests
{
    [Fact]
    public void Unlabeled_bound_equals_the_explicit_sum_over_labels_plus_entropy()
    {
        TorchRuntime.EnsureInitialized();
        manual_seed(4);
        using var model = new M2(784, latent: 8, hidden: [64, 64]);
        using var scope = NewDisposeScope();
        var x = rand(5, 784).lt_(0.4);
        var noise = randn(M2.Classes * 5, 8);

        var batched = model.NegativeUnlabeledBound(x, noise);

        // The definition, one label at a time: Σ_y q(y|x) L(x, y) − H(q(y|x)).
        var probabilities = nn.functional.softmax(model.Classify(x), 1);
        var explicitSum = zeros(5);
        for (int y = 0; y < M2.Classes; y++)
        {
            var bound = model.NegativeLabeledBound(x, full(5, y, dtype: ScalarType.Int64), noise.narrow(0, y * 5, 5));
            explicitSum += probabilities[.., y] * bound;
        }
        var entropy = -(probabilities * probabilities.log()).sum(1);
        var expected = explicitSum - entropy;

        Assert.True((batched - expected).abs().max().item<float>() < 1e-5 * expected.abs().max().item<float>(),
            $"batched {batched.ToString(TorchSharp.TensorStringStyle.Julia)} vs explicit {expected.ToString(TorchSharp.TensorStringStyle.Julia)}");
    }

    [Fact]
    public void Encoding_every_label_at_once_gives_the_gradients_of_encoding_each_label()
    {
        TorchRuntime.EnsureInitialized();
        manual_seed(5);
        using var model = new M2(784, latent: 8, hidden: [64, 64]);
        using var scope = NewDisposeScope();
        var x = rand(5, 784).lt_(0.4);
        var noise = randn(M2.Classes * 5, 8);
        var parameters = model.Generative.parameters().ToList();

        // The unlabeled bound's path: the first layer's image part once per image (Cvae.EncodeEveryLabel).
        model.NegativeUnlabeledBound(x, noise).sum().backward();
        var shared = parameters.Select(p => p.grad!.clone()).ToList();
        model.zero_grad();
        // The plain path: x repeated for each label, [x; onehot(y)] through the whole encoder.
        var probabilities = nn.functional.softmax(model.Classify(x), 1);
        var total = zeros(5);
        for (int y = 0; y < M2.Classes; y++)
            total += probabilities[.., y] * model.NegativeLabeledBound(x, full(5, y, dtype: ScalarType.Int64), noise.narrow(0, y * 5, 5));
        (total + (probabilities * probabilities.log()).sum(1)).sum().backward();

        for (int i = 0; i < parameters.Count; i++)
        {
            var expected = parameters[i].grad!;
            var difference = (shared[i] - expected).abs().max().item<float>();
            Assert.True(difference <= 1e-4 * Math.Max(1, expected.abs().max().item<float>()), $"parameter {i}: gradients differ by {difference}");
        }
    }
}
