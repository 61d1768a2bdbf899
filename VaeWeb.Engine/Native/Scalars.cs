using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Native;

/// <summary>
/// Scalars that live for the whole process, for code that runs while other trainings run.
/// </summary>
/// <remarks>
/// Why: TorchSharp turns every number operand (<c>0.5 * t</c>, <c>t - 1</c>), the alpha of every <c>a + b</c> and
/// Softplus's β and threshold into a temporary <see cref="Scalar"/>, reads its native handle and calls libtorch. From
/// then on nothing references the temporary, so a garbage collection started by another thread can finalize it and
/// free the native c10::Scalar while libtorch is still about to read it: the kernel then reads freed memory, and
/// <c>Scalar::toFloat</c> fails ("toFloat at Scalar.h:140") or worse. It needs a GC to land inside one native call,
/// so only many threads allocating at once (parallel trainings, the server) meet it, rarely. A Scalar held here is
/// never collected, and c10::Scalar is immutable, so one instance serves every thread.
/// </remarks>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Kept = new();

    /// <summary>The process-wide Scalar of <paramref name="value"/>.</summary>
    public static Scalar Of(double value) => Kept.GetOrAdd(value, static v => v.ToScalar());

    public static readonly Scalar One = Of(1);

    /// <summary>a + b, without TorchSharp's temporary alpha of 1.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b in place, without TorchSharp's temporary alpha of 1.</summary>
    public static Tensor Plus_(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>x², without the temporary exponent of TorchSharp's square() (which is pow(2)).</summary>
    public static Tensor Square(this Tensor x) => x.pow(Of(2));

    /// <summary>[0, 1, …, n − 1] as int64, without temporary Scalars for start, end and step.</summary>
    public static Tensor Range(long n) => arange(Of(0), Of(n), One, ScalarType.Int64);

    /// <summary>
    /// softplus(x) = log(1 + eᕽ) with β = 1 and threshold 20, as nn.Softplus, but with kept Scalars: TorchSharp's own
    /// makes two temporaries per call, and it runs after every hidden layer of every step.
    /// </summary>
    public static Tensor Softplus(Tensor x)
    {
        var result = THSTensor_softplus(x.Handle, SoftplusBeta, SoftplusThreshold);
        if (result == IntPtr.Zero) torch.CheckForErrors();
        return Tensor.UnsafeCreateTensor(result);
    }

    // The exports TorchSharp's own softplus and Scalar use; the two native Scalars are never freed.
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_softplus(IntPtr tensor, IntPtr beta, IntPtr threshold);
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTorch_float64_to_scalar(double value);
    static readonly IntPtr SoftplusBeta = THSTorch_float64_to_scalar(1), SoftplusThreshold = THSTorch_float64_to_scalar(20);
}

/// <summary>nn.Softplus through <see cref="Scalars.Softplus"/>: the hidden non-linearity of the poster's networks.</summary>
public sealed class SoftplusLayer() : nn.Module<Tensor, Tensor>("Softplus")
{
    public override Tensor forward(Tensor x) => Scalars.Softplus(x);
}
