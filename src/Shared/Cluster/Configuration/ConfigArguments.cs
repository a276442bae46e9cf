using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace DistributedNN.Configuration;

/// <summary>
/// Settings for a command from three places, strongest first: the command line, <c>DNN_*</c> environment
/// variables (the option's name in capitals, dashes as underscores: <c>--lr</c> → <c>DNN_LR</c>,
/// <c>--no-shuffle</c> → <c>DNN_NO_SHUFFLE</c>), and a JSON file given with <c>--config FILE</c> whose keys are the
/// option names without dashes (<c>{ "epochs": 10, "lr": 0.05, "no-shuffle": true }</c>). The weaker sources
/// are turned into command-line arguments for the options the stronger ones leave unset, so every value goes
/// through the same parsing and checks. Unknown keys, nested values and unreadable files are one-line errors.
/// </summary>
public static class ConfigArguments
{
    public const string ConfigOption = "--config";

    /// <summary>The option every command with a config file shows in its help (it is consumed before parsing).</summary>
    public static Option<string?> Option() => new(ConfigOption) { Description = "A JSON file of settings, keys = option names without dashes (e.g. {\"epochs\": 10, \"lr\": 0.05}); options and DNN_* environment variables override it." };

    /// <summary><paramref name="args"/> (starting after the command's name) with the environment's and the config file's settings added.</summary>
    /// <exception cref="UserErrorException">The config file cannot be read, or names an option the command does not have.</exception>
    public static string[] Expand(IReadOnlyList<string> args, Command command, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var options = command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != ConfigOption)
            .ToDictionary(o => o.Name[2..], o => o, StringComparer.Ordinal);
        var result = WithoutConfigOption(args, out string? configPath);
        var given = new HashSet<string>(result.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0][2..]), StringComparer.Ordinal);
        AddEnvironment(result, options, given, environment);
        if (configPath is not null) AddConfigFile(result, options, given, configPath, command.Name);
        return [.. result];
    }

    /// <summary><paramref name="args"/> without <c>--config FILE</c> (or <c>--config=FILE</c>; the last one given is the file).</summary>
    private static List<string> WithoutConfigOption(IReadOnlyList<string> args, out string? configPath)
    {
        var result = new List<string>();
        configPath = null;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == ConfigOption)
            {
                if (i + 1 >= args.Count) throw new UserErrorException("--config needs a file name");
                configPath = args[++i];
            }
            else if (a.StartsWith(ConfigOption + "=", StringComparison.Ordinal)) configPath = a[(ConfigOption.Length + 1)..];
            else result.Add(a);
        }
        return result;
    }

    /// <summary>DNN_&lt;NAME&gt; for every option the command line leaves unset.</summary>
    private static void AddEnvironment(List<string> result, Dictionary<string, Option> options, HashSet<string> given, Func<string, string?> environment)
    {
        foreach (var (name, option) in options)
        {
            if (given.Contains(name)) continue;
            string variable = "DNN_" + name.ToUpperInvariant().Replace('-', '_');
            if (environment(variable) is not { Length: > 0 } value) continue;
            Add(result, option, name, value, $"{variable}={value}");
            given.Add(name);
        }
    }

    /// <summary>The file's settings for the options neither the command line nor the environment gives.</summary>
    private static void AddConfigFile(List<string> result, Dictionary<string, Option> options, HashSet<string> given, string configPath, string commandName)
    {
        using var document = Read(configPath);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new UserErrorException($"--config {configPath}: the file must hold one JSON object of settings, e.g. {{\"epochs\": 10}}");
        AddSettings(result, options, given, document.RootElement, $"--config {configPath}", configPath, commandName);
    }

    /// <summary>
    /// <paramref name="args"/> (after the command's name, already expanded) with <paramref name="settings"/> — a JSON
    /// object of option names and values, the weakest source (a model spec's "training" section) — added for the options
    /// nothing else gives.
    /// </summary>
    public static string[] AddDefaults(IReadOnlyList<string> args, Command command, string settings, string source)
    {
        var options = command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != ConfigOption)
            .ToDictionary(o => o.Name[2..], o => o, StringComparer.Ordinal);
        var result = args.ToList();
        var given = new HashSet<string>(result.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0][2..]), StringComparer.Ordinal);
        using var document = JsonDocument.Parse(settings);
        AddSettings(result, options, given, document.RootElement, source, source, command.Name);
        return [.. result];
    }

    private static void AddSettings(List<string> result, Dictionary<string, Option> options, HashSet<string> given, JsonElement root, string where, string configPath, string commandName)
    {
        foreach (var property in root.EnumerateObject())
        {
            string key = property.Name.StartsWith("--", StringComparison.Ordinal) ? property.Name[2..] : property.Name;
            if (!options.TryGetValue(key, out var option))
                throw new UserErrorException($"{where}: unknown key '{property.Name}' (the keys are the option names of '{commandName}', e.g. {string.Join(", ", options.Keys.Take(4))})");
            if (given.Contains(key)) continue;
            string value = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString()!,
                JsonValueKind.Number => property.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Null => "",
                _ => throw new UserErrorException($"{where}: '{property.Name}' must be a string, number or true/false"),
            };
            if (value.Length == 0) continue;
            Add(result, option, key, value, $"'{property.Name}' in {configPath}");
        }
    }

    private static JsonDocument Read(string configPath)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(configPath), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--config {configPath}: cannot read it ({e.Message.TrimEnd('.')})");
        }
        catch (JsonException e)
        {
            throw new UserErrorException($"--config {configPath}: not valid JSON ({e.Message.Split('\n')[0].TrimEnd('.')})");
        }
    }

    private static void Add(List<string> args, Option option, string name, string value, string source)
    {
        if (option.ValueType == typeof(bool))
        {
            bool? flag = value.Trim().ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => null,
            };
            if (flag is null) throw new UserErrorException($"{source}: --{name} takes true or false");
            if (flag.Value) args.Add("--" + name);
            return;
        }
        args.Add("--" + name);
        args.Add(value.ToString(CultureInfo.InvariantCulture));
    }
}
