using Serilog;
using Serilog.Events;

namespace DistributedNN.Logging;

/// <summary>
/// Serilog for both executables: human-readable lines on stderr (stdout is the program's output), and log files
/// (a run folder's train.log, a worker's --log-file) as text or as JSON lines (CLEF), which get Information and up
/// whatever the console shows.
/// </summary>
public static class DnnLogging
{
    public static readonly string[] FileFormats = ["text", "json"];

    /// <summary>true for json, false for text.</summary>
    public static bool ParseFileFormat(string text, string option) => text.Trim().ToLowerInvariant() switch
    {
        "text" => false,
        "json" => true,
        _ => throw new UserErrorException($"{option} '{text}' is not one of text, json"),
    };

    /// <summary>
    /// The open log files. Each has its own logger; the global one hands every event to all of them, so a file
    /// keeps receiving events when the console logger is configured again (another run in the same process).
    /// </summary>
    private sealed class FileSinks : Serilog.Core.ILogEventSink
    {
        private readonly Lock _gate = new();
        private Serilog.Core.Logger[] _files = [];

        public void Emit(LogEvent e)
        {
            foreach (var f in Volatile.Read(ref _files)) f.Write(e);
        }

        public void Add(Serilog.Core.Logger f)
        {
            lock (_gate) _files = [.. _files, f];
        }

        public void Remove(Serilog.Core.Logger f)
        {
            lock (_gate) _files = _files.Where(x => !ReferenceEquals(x, f)).ToArray();
        }
    }

    private static readonly FileSinks Files = new();

    private sealed class FileRegistration(Serilog.Core.Logger logger) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            Files.Remove(logger);
            logger.Dispose(); // flushes and closes the file
        }
    }

    /// <summary>
    /// Starts writing every log event of Information and up (Debug and up under --log-level debug) to
    /// <paramref name="path"/>: text lines with full messages and stack traces, or with <paramref name="json"/>
    /// one compact JSON object per line (CLEF: @t, @mt, @l, @x, the event's properties, and Line: the message as text). Dispose to close it.
    /// </summary>
    /// <exception cref="UserErrorException">The file cannot be created.</exception>
    public static IDisposable LogToFile(string path, bool json)
    {
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            File.AppendAllText(path, ""); // fail now, with a clear message, rather than inside the sink
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UserErrorException($"cannot write the log file {path} ({e.Message})");
        }
        var config = new LoggerConfiguration().MinimumLevel.Is(FileLevel);
        var logger = (json
            ? config.WriteTo.File(new Serilog.Formatting.Compact.CompactJsonFormatter(), path)
            : config.WriteTo.File(path, formatProvider: System.Globalization.CultureInfo.InvariantCulture,
                outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} {Level:u3} [{Source}] {Message:lj}{NewLine}{Exception}")).CreateLogger();
        Files.Add(logger);
        return new FileRegistration(logger);
    }

    /// <summary>The least level log files get: Information, or Debug when the console shows debug.</summary>
    private static LogEventLevel FileLevel { get; set; } = LogEventLevel.Information;
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
        FileLevel = level <= LogEventLevel.Debug ? level : LogEventLevel.Information;
        var least = level < FileLevel ? level : FileLevel;
        AkkaLevel = least switch
        {
            LogEventLevel.Verbose or LogEventLevel.Debug => "DEBUG",
            LogEventLevel.Information => "INFO",
            LogEventLevel.Warning => "WARNING",
            _ => "ERROR",
        };
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(least)
            .Enrich.WithProperty("Source", source)
            .Filter.ByExcluding(IsShutdownNoise)
            .Enrich.With(new ErrorSummary())
            .Enrich.With(new FirstLine())
            .WriteTo.Sink(Files)
            .WriteTo.Console(restrictedToMinimumLevel: level, standardErrorFromLevel: LogEventLevel.Verbose,
                // stack traces only when debugging: a user reads one line per problem
                outputTemplate: level <= LogEventLevel.Debug
                    ? "{Timestamp:HH:mm:ss.fff} {Level:u3} [{Source}] {Message:lj}{NewLine}{Exception}"
                    : "{Timestamp:HH:mm:ss.fff} {Level:u3} [{Source}] {Line:l}{ErrorSummary}{NewLine}")
            .CreateLogger();
    }
}
