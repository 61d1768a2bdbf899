using System.CommandLine;
using VaeWeb.Engine.Cli;
using VaeWeb.Engine.Worker;

// The engine's command line: train, evaluate, fetch data and benchmark without the web app.
var root = new RootCommand("VaeWeb engine: train and evaluate variational auto-encoders on MNIST and Fashion-MNIST.")
{
    TrainCommand.Create(),
    EvaluateCommand.Create(),
    DataCommand.Create(),
    BenchCommand.Create(),
    ReproduceCommand.Create(),
    ClassifierCommand.Create(),
    WorkerCommand.Create(),
    StressCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
