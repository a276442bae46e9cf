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

    /// <summary>
    /// What Akka.Remote says when a node it talked to leaves at the end of a job: harmless, and
    /// alarming on a console (a warning with a stack trace per departed worker).
    /// </summary>
    private static bool IsShutdownNoise(LogEvent e) =>
        e.Exception?.GetType().Name is "EndpointDisassociatedException" or "ShutDownAssociation"
        || e.MessageTemplate.Text.StartsWith("Unable to REMOVE channel", StringComparison.Ordinal)
        || e.MessageTemplate.Text.StartsWith("Association with remote system", StringComparison.Ordinal) && e.Level <= LogEventLevel.Warning;

    /// <summary>" (innermost exception message)" for events that carry an exception, for one-line logs.</summary>
    private sealed class ErrorSummary : Serilog.Core.ILogEventEnricher
    {
        public void Enrich(LogEvent e, Serilog.Core.ILogEventPropertyFactory factory)
        {
            if (e.Exception is null) return;
            e.AddPropertyIfAbsent(factory.CreateProperty("ErrorSummary", $" ({Innermost(e.Exception).Message})"));
        }
    }

    /// <summary>
    /// The message's first line as "Line" (Akka.Remote puts troubleshooting lists and stack traces into some messages):
    /// a user reads one line per problem; --log-level debug shows everything.
    /// </summary>
    private sealed class FirstLine : Serilog.Core.ILogEventEnricher
    {
        private static readonly Serilog.Formatting.Display.MessageTemplateTextFormatter Literal = new("{Message:lj}", System.Globalization.CultureInfo.InvariantCulture);

        public void Enrich(LogEvent e, Serilog.Core.ILogEventPropertyFactory factory)
        {
            var writer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            Literal.Format(e, writer);
            string text = writer.ToString();
            int newline = text.IndexOfAny(['\r', '\n']);
            e.AddPropertyIfAbsent(factory.CreateProperty("Line", newline < 0 ? text : text[..newline].TrimEnd() + " […]"));
        }
    }

    /// <summary>The deepest inner exception (through aggregates): usually the one that says what is wrong.</summary>
    public static Exception Innermost(Exception e)
    {
        while (true)
        {
            var next = e is AggregateException { InnerExceptions.Count: > 0 } a ? a.InnerExceptions[0] : e.InnerException;
            if (next is null) return e;
            e = next;
        }
    }

    /// <summary>Akka's own log level, kept in step with Serilog's (Akka drops events below it before Serilog sees them).</summary>
    public static string AkkaLevel { get; private set; } = "INFO";

    public static void Configure(LogEventLevel level, string source)
    {
        AkkaLevel = level switch
        {
            LogEventLevel.Verbose or LogEventLevel.Debug => "DEBUG",
            LogEventLevel.Information => "INFO",
            LogEventLevel.Warning => "WARNING",
            _ => "ERROR",
        };
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Enrich.WithProperty("Source", source)
            .Filter.ByExcluding(IsShutdownNoise)
            .Enrich.With(new ErrorSummary())
            .Enrich.With(new FirstLine())
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                // stack traces only when debugging: a user reads one line per problem
                outputTemplate: level <= LogEventLevel.Debug
                    ? "{Timestamp:HH:mm:ss.fff} {Level:u3} [{Source}] {Message:lj}{NewLine}{Exception}"
                    : "{Timestamp:HH:mm:ss.fff} {Level:u3} [{Source}] {Line:l}{ErrorSummary}{NewLine}")
            .CreateLogger();
    }
}
