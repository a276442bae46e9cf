using Serilog;
using Serilog.Events;

namespace DistributedNN.Cluster;

/// <summary>Serilog for both executables: human-readable lines on stderr (stdout is the program's output).</summary>
public static class DnnLogging
{
    public static LogEventLevel ParseLevel(string text) => text.Trim().ToLowerInvariant() switch
    {
        "debug" => LogEventLevel.Debug,
        "info" or "information" => LogEventLevel.Information,
        "warning" or "warn" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        _ => throw new UserErrorException($"--log-level '{text}' is not one of debug, info, warning, error"),
    };

    public static void Configure(LogEventLevel level, string source)
    {
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Enrich.WithProperty("Source", source)
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                outputTemplate: "{Timestamp:HH:mm:ss} {Level:u3} [{Source}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
    }
}
