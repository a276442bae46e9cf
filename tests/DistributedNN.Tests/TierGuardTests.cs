using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Xunit.Abstractions;

namespace DistributedNN.Tests;

/// <summary>
/// Keeps every test in its tier (<see cref="TestTiers"/>): reads the IL of each test — with its class's constructors,
/// its fixtures, and every method of this assembly it reaches (helpers, lambdas, async state machines) — and looks for
/// what a unit test must not do. Whatever starts a process needs <see cref="TestTiers.EndToEnd"/>; an ActorSystem, a
/// cluster node or a socket needs <see cref="TestTiers.Integration"/> or <see cref="TestTiers.EndToEnd"/>.
/// </summary>
public sealed class TierGuardTests(ITestOutputHelper output)
{
    private const string Unit = "Unit";

    /// <summary>What needs a tier, found in the IL: a member's declaring type (with, optionally, the member's name), or a string literal.</summary>
    private static readonly (string Type, string? Member, string Tier)[] MemberMarks =
    [
        ("System.Diagnostics.Process", null, TestTiers.EndToEnd),
        ("System.Diagnostics.ProcessStartInfo", null, TestTiers.EndToEnd),
        ("Akka.Actor.ActorSystem", "Create", TestTiers.Integration),
        ("Akka.TestKit.TestKitBase", ".ctor", TestTiers.Integration),
        ("DistributedNN.Hosting.DnnAkka", "StartNodeAsync", TestTiers.Integration),
        ("DistributedNN.Coordinator.DistributedTrainer", null, TestTiers.Integration),
        ("DistributedNN.Transport.TensorListener", ".ctor", TestTiers.Integration),
        ("DistributedNN.Transport.DataPlaneEndpoint", ".ctor", TestTiers.Integration), // a TensorListener of its own
        ("DistributedNN.Transport.TensorChannel", "ConnectAsync", TestTiers.Integration),
        ("System.Net.Sockets.Socket", ".ctor", TestTiers.Integration),
        ("System.Net.Sockets.TcpClient", ".ctor", TestTiers.Integration),
        ("System.Net.Sockets.TcpListener", ".ctor", TestTiers.Integration),
    ];

    /// <summary>`dnn` options, run in process through the command line, that start processes or cluster nodes.</summary>
    private static readonly (string Literal, string Tier)[] StringMarks =
    [
        ("--spawn-workers", TestTiers.EndToEnd),
        ("--workers", TestTiers.Integration),
        ("--min-workers", TestTiers.Integration),
    ];

    /// <summary>Tests that name those options without running them: help text, and command lines refused before any node starts.</summary>
    private static readonly string[] OnlyNameTheOptions =
    [
        "DistributedNN.Tests.Cli.HelpTests.Every_command_has_help_with_an_example",
        "DistributedNN.Tests.Cli.CompareActivationsTests.Bad_input_is_one_line_without_a_stack_trace_and_nothing_is_trained",
        "DistributedNN.Tests.Security.TlsCommandLineTests.Bad_TLS_files_are_one_line_errors",
    ];

    [Fact]
    public void Every_test_that_starts_processes_actor_systems_or_sockets_is_in_a_tier_that_allows_it()
    {
        var violations = new List<string>();
        foreach (var (test, tier) in Tests())
        {
            string name = $"{test.DeclaringType!.FullName}.{test.Name}";
            if (OnlyNameTheOptions.Contains(name))
            {
                // the exception must still be needed: a stale entry would let a real cluster run through
                Assert.True(Needs(test).Any(), $"{name} no longer names the cluster options: take it off {nameof(OnlyNameTheOptions)}");
                continue;
            }
            foreach (var (needs, why) in Needs(test))
                if (!Allows(tier, needs)) violations.Add($"{name} is {tier} but {why}: it needs [Trait(TestTiers.Category, TestTiers.{needs})]");
        }
        foreach (var v in violations) output.WriteLine(v);
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    /// <summary>Tests outside the unit tier for their length alone: single-process Fashion-MNIST training runs of several seconds.</summary>
    private static readonly string[] LongRuns =
    [
        "DistributedNN.Tests.Cli.FashionMnistAcceptanceTests.Sgd_with_pytorch_settings_reaches_84_percent_in_3_epochs",
        "DistributedNN.Tests.Cli.FashionMnistAcceptanceTests.The_default_run_reaches_87_percent_within_5_epochs",
    ];

    [Fact]
    public void Every_test_outside_the_unit_tier_needs_to_be_there()
    {
        var misplaced = new List<string>();
        foreach (var (test, tier) in Tests().Where(t => t.Tier != Unit))
        {
            string name = $"{test.DeclaringType!.FullName}.{test.Name}";
            var needs = Needs(test).Select(n => n.Tier).ToList();
            string needed = needs.Contains(TestTiers.EndToEnd) ? TestTiers.EndToEnd : needs.Count > 0 ? TestTiers.Integration : Unit;
            if (tier != needed && !(needed == Unit && tier == TestTiers.Integration && LongRuns.Contains(name)))
                misplaced.Add($"{name} is {tier} but needs only {needed}");
        }
        Assert.True(misplaced.Count == 0, string.Join("\n", misplaced));
    }

    [Fact]
    public void Each_test_has_at_most_one_known_category()
    {
        var bad = new List<string>();
        foreach (var test in TestMethods())
        {
            var categories = Categories(test).Concat(Categories(test.DeclaringType!)).ToList();
            if (categories.Count > 1 || categories.Any(c => c is not (TestTiers.Integration or TestTiers.EndToEnd)))
                bad.Add($"{test.DeclaringType!.FullName}.{test.Name}: {string.Join(", ", categories)}");
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    [Fact]
    public void The_guard_sees_through_helpers_lambdas_and_async_methods()
    {
        // itself a check that the IL reader finds what it should: the tiers this guard would demand of known tests
        var byName = TestMethods().ToDictionary(m => $"{m.DeclaringType!.Name}.{m.Name}");
        string Needed(string test) => Needs(byName[test]).Select(n => n.Tier).OrderBy(t => t == TestTiers.EndToEnd ? 0 : 1).FirstOrDefault() ?? Unit;
        Assert.Equal(TestTiers.EndToEnd, Needed("ProcessTests.A_worker_started_mid_run_takes_shards")); // Start(…) → Process, in an async method
        Assert.Equal(TestTiers.Integration, Needed("ClusterSpecs.A_coordinator_and_two_worker_nodes_train_a_small_problem_to_a_low_loss")); // TestNodes field → StartNodeAsync
        Assert.Equal(TestTiers.Integration, Needed("TensorChannelTests.A_channel_runs_one_receive_loop")); // TransportTestKit helper → TensorListener
        Assert.Equal(TestTiers.Integration, Needed("WorkerActorSpecs.A_worker_whose_job_is_done_leaves_without_a_notice")); // a TestKit
        Assert.Equal(TestTiers.EndToEnd, Needed("DeterminismTests.Every_way_of_running_ends_with_the_same_weights")); // "--spawn-workers"
        Assert.Equal(Unit, Needed("GemmTests.All_paths_give_the_same_bits"));
    }

    private static bool Allows(string tier, string needs) => tier == TestTiers.EndToEnd || (tier == TestTiers.Integration && needs == TestTiers.Integration);

    private static IEnumerable<MethodInfo> TestMethods() => typeof(TierGuardTests).Assembly.GetTypes()
        .Where(t => t.IsClass && !t.IsAbstract)
        .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        .Where(m => m.GetCustomAttributes<FactAttribute>().Any());

    private static IEnumerable<(MethodInfo Test, string Tier)> Tests() =>
        TestMethods().Select(m => (m, Categories(m).Concat(Categories(m.DeclaringType!)).FirstOrDefault() ?? Unit));

    private static IEnumerable<string> Categories(MemberInfo member) => member.GetCustomAttributesData()
        .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == TestTiers.Category)
        .Select(a => (string)a.ConstructorArguments[1].Value!);

    /// <summary>The tiers a test needs, each with the first thing found that needs it.</summary>
    private static IEnumerable<(string Tier, string Why)> Needs(MethodInfo test)
    {
        var type = test.DeclaringType!;
        var roots = new List<MethodBase> { test };
        roots.AddRange(type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance));
        foreach (var name in new[] { "InitializeAsync", "DisposeAsync", "Dispose" })
            if (type.GetMethod(name, BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes) is { } m) roots.Add(m);
        foreach (var fixture in type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IClassFixture<>)))
            roots.AddRange(fixture.GetGenericArguments()[0].GetConstructors());
        foreach (var data in test.GetCustomAttributes<MemberDataAttribute>())
            if (type.GetMember(data.MemberName, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static).FirstOrDefault() is { } member)
                if ((member switch { PropertyInfo p => p.GetMethod, FieldInfo => type.TypeInitializer, _ => member as MethodBase }) is { } source) roots.Add(source);
        var found = new Dictionary<string, string>();
        if (typeof(Akka.TestKit.TestKitBase).IsAssignableFrom(type)) found[TestTiers.Integration] = $"derives from {typeof(Akka.TestKit.TestKitBase).FullName}";
        foreach (var inline in test.GetCustomAttributes<InlineDataAttribute>().SelectMany(d => d.GetData(test)).SelectMany(row => row))
            foreach (var literal in Strings(inline))
                Mark(found, StringMarks.FirstOrDefault(s => s.Literal == literal).Tier, $"its data has \"{literal}\"");
        var seen = new HashSet<MethodBase>();
        foreach (var root in roots) Scan(root, found, seen, root.Name);
        return found.Select(f => (f.Key, f.Value));
    }

    private static IEnumerable<string> Strings(object? data) => data switch
    {
        string one => [one],
        string[] many => many,
        _ => [],
    };

    private static void Mark(Dictionary<string, string> found, string? tier, string why)
    {
        if (tier is not null) found.TryAdd(tier, why);
    }

    /// <summary>Walks one method's IL, and the IL of every method of this assembly it calls, references or starts as a state machine.</summary>
    private static void Scan(MethodBase method, Dictionary<string, string> found, HashSet<MethodBase> seen, string path)
    {
        if (!seen.Add(method)) return;
        var stateMachine = method.GetCustomAttribute<StateMachineAttribute>()?.StateMachineType;
        if (stateMachine?.GetMethod("MoveNext", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance) is { } moveNext)
            Scan(moveNext, found, seen, path);
        foreach (var (member, literal) in IlReader.References(method))
        {
            if (literal is not null)
            {
                Mark(found, StringMarks.FirstOrDefault(s => s.Literal == literal).Tier, $"{path} has \"{literal}\"");
                continue;
            }
            string? declaring = member!.DeclaringType?.FullName;
            foreach (var mark in MemberMarks.Where(m => m.Type == declaring && (m.Member is null || m.Member == member.Name)))
                Mark(found, mark.Tier, $"{path} uses {declaring}.{member.Name}");
            if (member is MethodBase callee && callee.Module == typeof(TierGuardTests).Module)
                Scan(callee, found, seen, $"{path} → {callee.DeclaringType?.Name}.{callee.Name}");
        }
    }

    /// <summary>The members and strings an IL body refers to, by the operand types of System.Reflection.Emit's opcode table.</summary>
    private static class IlReader
    {
        private static readonly Dictionary<ushort, OpCode> Codes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => (ushort)o.Value);

        public static IEnumerable<(MemberInfo? Member, string? Literal)> References(MethodBase method)
        {
            byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
            if (il is null) yield break;
            var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
            var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
            for (int i = 0; i < il.Length;)
            {
                ushort value = il[i] == 0xFE ? (ushort)(0xFE00 | il[i + 1]) : il[i];
                i += value > 0xFF ? 2 : 1;
                var code = Codes[value];
                int token = code.OperandType is OperandType.InlineNone or OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar
                    or OperandType.InlineVar or OperandType.InlineI8 or OperandType.InlineR or OperandType.InlineSwitch ? 0 : BitConverter.ToInt32(il, i);
                i += code.OperandType switch
                {
                    OperandType.InlineNone => 0,
                    OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                    OperandType.InlineVar => 2,
                    OperandType.InlineI8 or OperandType.InlineR => 8,
                    OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                    _ => 4,
                };
                if (code.OperandType == OperandType.InlineString) yield return (null, method.Module.ResolveString(token));
                else if (code.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok or OperandType.InlineType
                         && Resolve(method.Module, token, typeArgs, methodArgs) is { } member)
                    yield return (member, null);
            }
        }

        private static MemberInfo? Resolve(Module module, int token, Type[]? typeArgs, Type[]? methodArgs)
        {
            try { return module.ResolveMember(token, typeArgs, methodArgs); }
            catch (ArgumentException) { return null; } // a token of a generic context this walk does not carry
        }
    }
}
