namespace VaeWeb.Engine.Data;

/// <summary>
/// "Coloured MNIST (SVHN stand-in)": each MNIST digit centred on a 32×32 coloured, textured background, drawn in a
/// contrasting colour, its label unchanged. SVHN is in no registry here, so this gives the colour code paths real
/// structure to learn in CI. Deterministic: image i depends only on the seed, i and the digit, so any prefix is the same
/// images.
/// </summary>
/// <remarks>
/// Like SVHN's cropped digits, the digit is centred and the background varies slowly (two faint long-wave gratings, like
/// uneven light on a wall, and a little grain). Until 2026-11-28 the digit sat at a random offset and the gratings had
/// periods of 8–31 pixels and reached ±0.32, as strong as the digit's contrast: a conv VAE spent its code on them, and
/// after 8,000 images × 15 epochs its samples were still coloured blobs, where on these backgrounds 0s, 1s and 8s show.
/// </remarks>
public static class ColouredMnist
{
    public const string Name = "mnist-colour";
    public const string Title = "Coloured MNIST (SVHN stand-in)";
    public const int Side = 32, Channels = 3, PixelsPerImage = Side * Side * Channels;

    /// <summary>Colours the first <paramref name="count"/> digits (all when ≤ 0): bytes image-major, channel-planar (R, G, B planes).</summary>
    public static byte[] Make(Idx.Images digits, int seed, int count = 0)
    {
        if (digits.Rows != 28 || digits.Cols != 28) throw new ArgumentException($"Expected 28×28 MNIST digits, got {digits.Rows}×{digits.Cols}.");
        int n = count <= 0 ? digits.Count : Math.Min(count, digits.Count);
        var pixels = new byte[(long)n * PixelsPerImage];
        for (int i = 0; i < n; i++)
            Colour(digits.Pixels.AsSpan(i * 784, 784), pixels.AsSpan(i * PixelsPerImage, PixelsPerImage), seed, i);
        return pixels;
    }

    static void Colour(ReadOnlySpan<byte> digit, Span<byte> target, int seed, int index)
    {
        // Seeded from (seed, index) alone: HashCode.Combine, used here before, is randomized per process, so every run
        // of the program made other images.
        var random = new Random((int)(SplitMix((ulong)(uint)seed << 32 | (uint)index) & int.MaxValue));
        float R() => random.NextSingle();
        // Background: a random hue, then two sine gratings and grain so that no image is a flat colour.
        var background = Hsv(R(), 0.4f + 0.6f * R(), 0.25f + 0.65f * R());
        bool light = Luma(background) > 0.45f;
        // The digit: roughly the opposite hue, and dark on a light background, light on a dark one.
        var ink = Hsv((Hue(background) + 0.35f + 0.3f * R()) % 1f, 0.3f + 0.7f * R(), light ? 0.05f + 0.2f * R() : 0.8f + 0.2f * R());
        // A bright but deep hue (a saturated blue) can be as dark as the background: move the ink towards black on a
        // light background, towards white on a dark one, until their lumas differ by MinContrast.
        float inkLuma = Luma(ink), goal = light ? Luma(background) - MinContrast : Luma(background) + MinContrast;
        if (light && inkLuma > goal)
            for (int ch = 0; ch < Channels; ch++) ink[ch] *= goal / inkLuma;                      // luma scales with the channels
        else if (!light && inkLuma < goal)
            for (int ch = 0; ch < Channels; ch++) ink[ch] += (goal - inkLuma) / (1 - inkLuma) * (1 - ink[ch]);   // L + t(1 − L)
        // Waves of 26–105 pixels (0.06–0.24 radians a pixel), each ±0.018–0.048: a slow shading, well under the digit's contrast.
        float f1 = 0.06f + 0.18f * R(), f2 = 0.06f + 0.18f * R(), a1 = MathF.PI * R(), a2 = MathF.PI * R(), p1 = 6.3f * R(), p2 = 6.3f * R();
        float strength = 0.018f + 0.03f * R();
        const int dx = 2, dy = 2;                                              // the 28×28 digit centred in 32×32
        uint grain = (uint)random.Next() | 1;                                  // xorshift: a Random call per byte would triple the cost
        // sin(f(x cos a + y sin a) + p) = sin(u)cos(v) + cos(u)sin(v), u from x, v from y: 32-entry tables, not 1024 sines.
        Span<float> su1 = stackalloc float[Side], cu1 = stackalloc float[Side], sv1 = stackalloc float[Side], cv1 = stackalloc float[Side];
        Span<float> su2 = stackalloc float[Side], cu2 = stackalloc float[Side], sv2 = stackalloc float[Side], cv2 = stackalloc float[Side];
        for (int i = 0; i < Side; i++)
        {
            (su1[i], cu1[i]) = MathF.SinCos(f1 * i * MathF.Cos(a1));
            (sv1[i], cv1[i]) = MathF.SinCos(f1 * i * MathF.Sin(a1) + p1);
            (su2[i], cu2[i]) = MathF.SinCos(f2 * i * MathF.Cos(a2));
            (sv2[i], cv2[i]) = MathF.SinCos(f2 * i * MathF.Sin(a2) + p2);
        }
        for (int y = 0; y < Side; y++)
            for (int x = 0; x < Side; x++)
            {
                float texture = strength * (su1[x] * cv1[y] + cu1[x] * sv1[y] + su2[x] * cv2[y] + cu2[x] * sv2[y]);
                int dr = y - dy, dc = x - dx;
                float alpha = dr is >= 0 and < 28 && dc is >= 0 and < 28 ? digit[dr * 28 + dc] / 255f : 0f;
                for (int ch = 0; ch < Channels; ch++)
                {
                    grain ^= grain << 13; grain ^= grain >> 17; grain ^= grain << 5;
                    float noise = 0.02f * ((grain >> 8) / 16777216f - 0.5f);       // ±2.5 levels
                    float value = (background[ch] + texture + noise) * (1 - alpha) + ink[ch] * alpha;
                    target[ch * Side * Side + y * Side + x] = (byte)Math.Clamp(MathF.Round(value * 255), 0, 255);
                }
            }
    }

    /// <summary>Luma between the digit's colour and its background's, at least: the digit must stand out (0.3 of the range).</summary>
    const float MinContrast = 0.3f;

    /// <summary>SplitMix64's finalizer: a well-mixed 64-bit number from any other, the same in every process.</summary>
    static ulong SplitMix(ulong z)
    {
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    static float Luma(float[] rgb) => 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];

    static float[] Hsv(float h, float s, float v)
    {
        float Channel(float n) { var k = (n + h * 6) % 6; return v - v * s * Math.Clamp(Math.Min(k, 4 - k), 0, 1); }
        return [Channel(5), Channel(3), Channel(1)];
    }

    static float Hue(float[] rgb)
    {
        float max = rgb.Max(), min = rgb.Min(), d = max - min;
        if (d == 0) return 0;
        float h = max == rgb[0] ? (rgb[1] - rgb[2]) / d % 6 : max == rgb[1] ? (rgb[2] - rgb[0]) / d + 2 : (rgb[0] - rgb[1]) / d + 4;
        return (h / 6 + 1) % 1;
    }
}
