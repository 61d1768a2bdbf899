using TorchSharp;
using VaeWeb.Engine.Native;
TorchRuntime.EnsureInitialized();
var x = torch.randn(3, 3, requires_grad: true);
var y = (x * x).sum();
y.backward();
Console.WriteLine(x.grad!.ToString(TorchSharp.TensorStringStyle.Julia));
Console.WriteLine(torch.get_num_threads());
