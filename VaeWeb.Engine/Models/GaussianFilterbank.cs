using TorchSharp.Modules;
using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>Where one attention window lies, in image pixels: its centre, the stride between filters, their count.</summary>
public sealed record AttentionWindow(Tensor CentreX, Tensor CentreY, Tensor Stride, int N)
{
    /// <summary>
    /// The window as boxes [B, 4] (left, top, right, bottom) in image coordinates, pixel a (1-based) spanning [a − 1, a]:
    /// the span of the N filter centres, (N − 1)·δ wide about the grid centre. At initialization it is the whole image
    /// (δ = (max(A, B) − 1)/(N − 1), equation 22): a window the size of the image has not learnt to look anywhere yet.
    /// </summary>
    public Tensor Box()
    {
        var half = Stride.mul(Scalars.Of((N - 1) / 2.0));
        var x = CentreX.sub(Scalars.Of(0.5));
        var y = CentreY.sub(Scalars.Of(0.5));
        return stack([x.sub(half), y.sub(half), x.Plus(half), y.Plus(half)], 1);
    }
}

/// <summary>
/// DRAW's selective attention (Gregor et al. 2015, Section 3.2): an N×N grid of Gaussian filters laid over an A×B image,
/// placed by five numbers a linear layer reads off the decoder state h: the grid centre (g̃X, g̃Y), the log variance
/// of the filters log σ², the log stride log δ̃ and the log intensity log γ (equation 21). Filter i of the horizontal
/// bank is centred at μX_i = gX + (i − N/2 − 0.5)·δ (equation 19) and F_X[i, a] ∝ exp(−(a − μX_i)² / 2σ²), normalized
/// over a (equation 25); likewise vertically. Reading is γ·F_Y x F_Xᵀ (equation 27), writing (1/γ)·F_Yᵀ w F_X (29).
/// </summary>
public sealed class GaussianFilterbank : nn.Module
{
    readonly Linear place;
    readonly int n, width, height;
    readonly Tensor offsets, columns, rows;                                  // i − N/2 − 0.5 for i = 1..N; a = 1..A; b = 1..B

    public GaussianFilterbank(int hidden, int n, int width = 28, int height = 28) : base(nameof(GaussianFilterbank))
    {
        (this.n, this.width, this.height) = (n, width, height);
        place = nn.Linear(hidden, 5);
        // Buffers (RegisterComponents registers tensor fields), so they move with the model to a GPU.
        offsets = Scalars.Range(n).to_type(ScalarType.Float32).sub_(Scalars.Of(n / 2.0 - 0.5));
        columns = Scalars.Range(width).to_type(ScalarType.Float32).add_(Scalars.One);
        rows = Scalars.Range(height).to_type(ScalarType.Float32).add_(Scalars.One);
        RegisterComponents();
    }

    public int N => n;

    /// <summary>h: [B, hidden] → F_X [B, N, A], F_Y [B, N, B], γ [B, 1, 1] and the window, for drawing it.</summary>
    public (Tensor Fx, Tensor Fy, Tensor Gamma, AttentionWindow Window) forward(Tensor h)
    {
        var p = place.forward(h);                                            // [B, 5]: g̃X, g̃Y, log σ², log δ̃, log γ
        var gx = p[.., 0].add(Scalars.One).mul_(Scalars.Of((width + 1) / 2.0));
        var gy = p[.., 1].add(Scalars.One).mul_(Scalars.Of((height + 1) / 2.0));
        var sigma2 = p[.., 2].exp();
        var stride = p[.., 3].exp().mul(Scalars.Of((Math.Max(width, height) - 1) / (double)Math.Max(n - 1, 1)));
        var gamma = p[.., 4].exp().view(-1, 1, 1);
        var muX = gx.unsqueeze(1).Plus(offsets.unsqueeze(0) * stride.unsqueeze(1));   // [B, N]
        var muY = gy.unsqueeze(1).Plus(offsets.unsqueeze(0) * stride.unsqueeze(1));
        var twoSigma2 = sigma2.mul(Scalars.Of(2)).view(-1, 1, 1);
        return (Bank(muX, columns, twoSigma2), Bank(muY, rows, twoSigma2), gamma, new AttentionWindow(gx, gy, stride, n));
    }

    /// <summary>F[b, i, a] = exp(−(a − μ[b, i])² / 2σ²[b]), each filter normalized to sum 1 (a small ε keeps far-off ones finite).</summary>
    static Tensor Bank(Tensor mu, Tensor positions, Tensor twoSigma2)
    {
        var f = positions.view(1, 1, -1).sub(mu.unsqueeze(2)).Square().div_(twoSigma2).neg_().exp_();   // [B, N, A]
        return f.div(f.sum(2, keepdim: true).add_(Scalars.Of(1e-8)));   // not in place: exp's backward needs its output
    }

    /// <summary>The N×N glimpse γ·F_Y x F_Xᵀ of images x [B, B·A] → [B, N·N].</summary>
    public static Tensor Read(Tensor x, Tensor fx, Tensor fy, Tensor gamma, int height, int width) =>
        fy.matmul(x.view(-1, height, width)).matmul(fx.transpose(1, 2)).mul(gamma).flatten(1);

    /// <summary>An N×N patch w [B, N·N] written onto the canvas: (1/γ)·F_Yᵀ w F_X → [B, B·A].</summary>
    public static Tensor Write(Tensor w, Tensor fx, Tensor fy, Tensor gamma, int n) =>
        fy.transpose(1, 2).matmul(w.view(-1, n, n)).matmul(fx).div(gamma).flatten(1);
}
