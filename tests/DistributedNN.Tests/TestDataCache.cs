using System.Runtime.CompilerServices;
using DistributedNN.Data;

namespace DistributedNN.Tests;

/// <summary>
/// The tests' data cache: a directory of this test run's own (the worker processes the tests start inherit it), removed
/// when the run ends, so that tests neither read a user's ~/.cache nor leave files in it.
/// </summary>
internal static class TestDataCache
{
    public static string Directory { get; } = Path.Combine(Path.GetTempPath(), $"dnn-test-cache-{Environment.ProcessId}");

#pragma warning disable CA2255 // a module initializer is what places it before any test reads the environment
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Place()
    {
        Environment.SetEnvironmentVariable(DataCache.EnvironmentVariable, Directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };
    }
}
