using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// DRAW, the Deep Recurrent Attentive Writer (Gregor, Danihelka, Graves, Rezende &amp; Wierstra 2015): an encoder LSTM
/// reads the image and the error of the canvas so far, a Gaussian z_t ~ Q(Z_t|h_enc_t) goes to a decoder LSTM, and
/// the decoder writes onto the canvas, T times (equations 3–8). p(x|z_1..T) is Bernoulli with means σ(c_T); the loss
/// is −log p(x|c_T) + Σ_t KL(Q(Z_t|h_enc_t) || N(0, I)) (equations 9–12). With attention, reading and writing go
/// through N×N Gaussian filterbanks placed by the decoder state (<see cref="GaussianFilterbank"/>); without it, the
/// read is the whole image and its error, the write a linear map to the whole canvas (Section 3.1).
/// The latent of the contract is the whole sequence z_1..T, [n, T·zSize].
/// </summary>
public sealed class Draw : GenerativeModel
{
    const int Height = 28, Width = 28, Pixels = Height * Width;
    readonly LSTMCell encoder, decoder;
    readonly Linear q;                                                       // h_enc → μ and log σ² of z_t, [B, 2·zSize]
    readonly Linear write;                                                   // h_dec → the write patch (N·N) or the canvas delta (784)
    readonly GaussianFilterbank? readAttention, writeAttention;
    readonly int steps, zSize, hidden;

    public Draw(int zSize = 100, int hidden = 256, int steps = 64, bool attention = true, int readSize = 2, int writeSize = 5) : base(nameof(Draw))
    {
        (this.steps, this.zSize, this.hidden) = (steps, zSize, hidden);
        int readWidth = attention ? 2 * readSize * readSize : 2 * Pixels;
        encoder = nn.LSTMCell(readWidth + hidden, hidden);                   // input [r_t, h_dec_{t−1}] (equation 4)
        decoder = nn.LSTMCell(zSize, hidden);
        q = nn.Linear(hidden, 2 * zSize);
        write = nn.Linear(hidden, attention ? writeSize * writeSize : Pixels);
        if (attention)
        {
            readAttention = new GaussianFilterbank(hidden, readSize, Width, Height, wide: true);
            writeAttention = new GaussianFilterbank(hidden, writeSize, Width, Height);
        }
        RegisterComponents();
    }

    public int Steps => steps;
    public bool HasAttention => readAttention is not null;
    public override int Latent => steps * zSize;

    /// <summary>
    /// Every step's matrix products: the two LSTMs (4 gates each, over input and state), Q's and the write's linear
    /// layers, and with attention the two placements and the filterbank products of the read (x and x̂) and the write;
    /// backward costs twice the forward (the input is data, but x̂ is not, so no first-layer saving).
    /// </summary>
    public override long TrainingFlopsPerImage
    {
        get
        {
            long h = hidden, z = zSize;
            long read = readAttention is { N: var r } ? 2 * (2L * r * Height * Width + 2L * r * Width * r) + 2 * h * 5 : 0;
            long readWidth = readAttention is { N: var n } ? 2L * n * n : 2L * Pixels;
            long write = writeAttention is { N: var w } ? 2 * h * w * w + 2 * h * 5 + 2L * Height * w * w + 2L * Height * w * Width : 2 * h * Pixels;
            long lstms = 2 * 4 * h * (readWidth + h + h) + 2 * 4 * h * (z + h);
            return 3 * steps * (read + lstms + 2 * h * 2 * z + write);
        }
    }

    /// <summary>r_t: the glimpses of x and of the error image x̂ [B, 2·N·N], or both whole [B, 2·784] without attention; and where.</summary>
    (Tensor Glimpse, AttentionWindow? Window) Read(Tensor x, Tensor error, Tensor hDec)
    {
        if (readAttention is null) return (cat([x, error], 1), null);
        var (fx, fy, gamma, window) = readAttention.forward(hDec);
        return (cat([GaussianFilterbank.Read(x, fx, fy, gamma, Height, Width), GaussianFilterbank.Read(error, fx, fy, gamma, Height, Width)], 1), window);
    }

    /// <summary>What the decoder adds to the canvas, [B, 784], and where (null without attention).</summary>
    (Tensor Delta, AttentionWindow? Window) Write(Tensor hDec)
    {
        var w = write.forward(hDec);
        if (writeAttention is null) return (w, null);
        var (fx, fy, gamma, window) = writeAttention.forward(hDec);
        return (GaussianFilterbank.Write(w, fx, fy, gamma, writeAttention.N), window);
    }

    /// <summary>
    /// One pass over x [B, 784] with z_t drawn from Q: the final canvas (logits of p(x|z)) [B, 784], the KL of every
    /// step summed [B], and Σ_t log Q(z_t|h_enc_t) − log N(z_t; 0, I) [B] for the importance weights.
    /// </summary>
    /// <remarks>With <paramref name="means"/>, z_t is the mean of Q(Z_t|h_enc_t), for reconstructions; a
    /// <paramref name="recorder"/> keeps every step's canvas and windows (not in training: it costs a sigmoid a step).</remarks>
    (Tensor Canvas, Tensor Kl, Tensor LogQOverP) Pass(Tensor x, Generator? generator, bool means = false, StepRecorder? recorder = null)
    {
        long b = x.shape[0];
        var hEnc = zeros(b, hidden); var cEnc = zeros(b, hidden);
        var hDec = zeros(b, hidden); var cDec = zeros(b, hidden);
        var canvas = zeros(b, Pixels);
        var kl = zeros(b);
        var logQOverP = zeros(b);
        for (int t = 0; t < steps; t++)
        {
            var error = x.sub(canvas.sigmoid());                // x̂_t = x − σ(c_{t−1}) (equation 3)
            var (glimpse, readWindow) = Read(x, error, hDec);
            (hEnc, cEnc) = encoder.forward(cat([glimpse, hDec], 1), (hEnc, cEnc));
            var muLogVar = q.forward(hEnc).chunk(2, 1);
            var (mu, logVar) = (muLogVar[0], muLogVar[1]);
            var eps = means ? zeros_like(mu) : generator is null ? randn_like(mu) : randn(mu.shape, generator: generator);
            var z = eps.mul(logVar.mul(Scalars.Of(0.5)).exp_()).Plus_(mu);
            // KL(N(μ, σ²) || N(0, I)) = ½ Σ (μ² + σ² − log σ² − 1) (equation 11); log q − log p at the drawn z, for IWAE.
            kl = kl.Plus(mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum(1).mul_(Scalars.Of(0.5)));
            logQOverP = logQOverP.Plus(z.Square().sub_(eps.Square()).sub_(logVar).sum(1).mul_(Scalars.Of(0.5)));
            (hDec, cDec) = decoder.forward(z, (hDec, cDec));
            var (delta, writeWindow) = Write(hDec);
            canvas = canvas.Plus(delta);                                     // c_t = c_{t−1} + write(h_dec_t) (equation 8)
            recorder?.Add(canvas, writeWindow, readWindow);
        }
        return (canvas, kl, logQOverP);
    }

    /// <summary>Reconstruction and KL per image, as batch sums: the negative ELBO is their sum; and the final canvas c_T (logits) [B, 784].</summary>
    (Tensor Reconstruction, Tensor Kl, Tensor Canvas) Terms(Tensor x, Generator? generator)
    {
        var (canvas, kl, _) = Pass(x, generator);
        return (nn.functional.binary_cross_entropy_with_logits(canvas, x, reduction: nn.Reduction.Sum), kl.sum(), canvas);
    }

    public override Loss Loss(Batch batch) => LossAndCanvas(batch.X!).Loss;

    /// <summary>
    /// The loss of a batch x [B, 784] (binary) and the final canvas c_T it drew, logits [B, 784]: for a model that also
    /// judges that canvas (DRAW-GAN), from the same pass.
    /// </summary>
    public (Loss Loss, Tensor Canvas) LossAndCanvas(Tensor x)
    {
        var (reconstruction, kl, canvas) = Terms(x, Noise);
        var perImage = Scalars.Of(x.shape[0]);
        var objective = reconstruction.Plus(kl).div(perImage);
        return (new(objective, new Dictionary<string, Tensor>
        {
            [Metrics.Elbo] = -objective, [Metrics.Reconstruction] = reconstruction.div(perImage), [Metrics.Kl] = kl.div(perImage),
        }), canvas);
    }

    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var _ = no_grad();
        bool wasTraining = training;
        eval();
        using var generator = new Generator((ulong)Evaluation.EvaluationSeed);
        using var images = Evaluation.FixedBinarization(set, binarize);
        double reconstruction = 0, kl = 0;
        for (long start = 0; start < set.Count; start += 500)
        {
            using var scope = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(500, set.Count - start));
            var (r, k, _) = Terms(x, generator);
            reconstruction += r.item<float>();
            kl += k.item<float>();
        }
        train(wasTraining);
        return Metrics.Losses(reconstruction / set.Count, kl / set.Count);
    }

    /// <summary>
    /// log p(x) ≥ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x) with z_i = z_1..T drawn step by step from Q (Burda et al.
    /// 2015): each sample is one full pass of the encoder and decoder. x: [B, 784] binary → [B] nats.
    /// </summary>
    public override Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null)
    {
        long b = x.shape[0];
        var xk = x.unsqueeze(0).expand(k, b, Pixels).reshape(k * b, Pixels);
        var (canvas, _, logQOverP) = Pass(xk, generator);
        var logPx = -nn.functional.binary_cross_entropy_with_logits(canvas, xk, reduction: nn.Reduction.None).sum(1);
        return logPx.sub(logQOverP).view(k, b).logsumexp(0).sub_(Scalars.Of(Math.Log(k)));
    }

    /// <summary>
    /// The decoder alone on z = z_1..T [n, T·zSize]: the final canvas c_T (logits) [n, 784]; a <paramref name="recorder"/>
    /// keeps every canvas σ(c_t) and each write window.
    /// </summary>
    Tensor Generate(Tensor z, StepRecorder? recorder)
    {
        long n = z.shape[0];
        var zs = z.view(n, steps, zSize);
        var hDec = zeros(n, hidden); var cDec = zeros(n, hidden);
        var canvas = zeros(n, Pixels);
        for (int t = 0; t < steps; t++)
        {
            (hDec, cDec) = decoder.forward(zs[.., t], (hDec, cDec));       // h̃_dec_t from z̃_t ~ p(z) (Section 2.3)
            var (delta, window) = Write(hDec);
            canvas = canvas.Plus(delta);
            recorder?.Add(canvas, window, null);
        }
        return canvas;
    }

    /// <summary>The final canvas c_T (logits of p(x|z)) drawn from z = z_1..T [n, T·zSize], [n, 784]; differentiable, for DRAW-GAN's generator loss.</summary>
    public Tensor DecodeLogits(Tensor z) => Generate(z, null);

    public override Tensor Decode(Tensor z, Tensor? labels) => DecodeLogits(z).sigmoid();

    /// <summary>The final canvas σ(c_T) of a pass over x that takes each z_t at its posterior mean.</summary>
    public override Tensor Reconstruct(Tensor x, Tensor? labels) => Pass(x, null, means: true).Canvas.sigmoid();

    public override DrawingSteps Frames(Tensor z, Tensor? labels)
    {
        var recorder = new StepRecorder();
        Generate(z, recorder);
        return recorder.Steps();
    }

    /// <summary>The pass of <see cref="Reconstruct"/>, step by step: each canvas, and where each step read x and wrote.</summary>
    public override DrawingSteps ReconstructionFrames(Tensor x, Tensor? labels)
    {
        var recorder = new StepRecorder();
        Pass(x, null, means: true, recorder);
        return recorder.Steps();
    }

    /// <summary>Collects a pass's canvases σ(c_t) and its windows as boxes, step by step.</summary>
    sealed class StepRecorder
    {
        readonly List<Tensor> canvases = [], writes = [], reads = [];

        public void Add(Tensor canvas, AttentionWindow? write, AttentionWindow? read)
        {
            canvases.Add(canvas.sigmoid());
            if (write is not null) writes.Add(write.Box());
            if (read is not null) reads.Add(read.Box());
        }

        public DrawingSteps Steps() => new(stack(canvases), writes.Count > 0 ? stack(writes) : null, reads.Count > 0 ? stack(reads) : null);
    }
}
