using VaeWeb.Server;

var builder = WebApplication.CreateBuilder(args);
builder.AddApplicationServices();

var app = builder.Build();
await app.PrepareDatabaseAsync();
app.MapApplication();
app.Run();
