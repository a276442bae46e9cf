using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;
using DistributedNN.Training;

namespace DistributedNN.Tests.Serialization;

/// <summary>
/// `train --checkpoint-key`: checkpoints carry an HMAC-SHA256 under the key, and a resume refuses one planted in the
/// folder — a rewrite with other weights and a recomputed SHA-256, an unauthenticated one, one of another key — while
/// the run's own checkpoints resume to the uninterrupted run's weights. Key files that are too short or too open are refused.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed class CheckpointAuthenticationTests : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private string KeyFile(string name, int bytes = 32, UnixFileMode mode = Rw)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(bytes));
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private static Checkpoint Sample()
    {
        var spec = NetworkSpec.FromSizes([3, 4, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 5);
        var state = new TrainingState(spec, p, new TrainingSettings(2, 8, 2, 4, true, new OptimizerSettings(OptimizerKind.Adam, 0.01f)), 40);
        return CheckpointFile.Capture(state, "fp", []);
    }

    /// <summary>Another value for the first weight, and the trailing SHA-256 recomputed: what an attacker without the key can do.</summary>
    private static byte[] WithOtherWeights(byte[] checkpoint, Checkpoint decoded)
    {
        var forged = (byte[])checkpoint.Clone();
        var first = MemoryMarshal.AsBytes(decoded.Parameters.AsSpan(0, 1)).ToArray();
        int at = forged.AsSpan().IndexOf(first);
        Assert.True(at > 0);
        BitConverter.GetBytes(decoded.Parameters[0] + 1000f).CopyTo(forged, at);
        SHA256.HashData(forged.AsSpan(0, forged.Length - 32)).CopyTo(forged, forged.Length - 32);
        return forged;
    }

    [Fact]
    public void An_authenticated_checkpoint_is_taken_only_with_its_key()
    {
        var key = CheckpointKey.Load(KeyFile("key"));
        var other = CheckpointKey.Load(KeyFile("other"));
        var c = Sample();
        var bytes = CheckpointFile.Encode(c, key);
        Assert.Equal(CheckpointFile.AuthenticatedVersion, BitConverter.ToUInt32(bytes, 8));
        Assert.Equal(c.Parameters, CheckpointFile.Decode(bytes, "c", key).Parameters);

        string Refusal(byte[] b, CheckpointKey? k) => Assert.Throws<UserErrorException>(() => CheckpointFile.Decode(b, "c", k)).Message;
        Assert.Equal("c was not written with this --checkpoint-key (its authentication code does not match); not resuming from it", Refusal(bytes, other));
        Assert.Equal("c was not written with this --checkpoint-key (its authentication code does not match); not resuming from it", Refusal(WithOtherWeights(bytes, c), key));
        Assert.Equal("c was not written with this --checkpoint-key (it carries no authentication code); not resuming from it", Refusal(CheckpointFile.Encode(c), key));
        Assert.Equal("c was written with a --checkpoint-key: give the same key to resume from it", Refusal(bytes, null));
        // refusals are not taken for damage (which a resume skips): a flipped bit without a new SHA-256 still is damage
        Assert.IsNotType<DataFormatException>(Assert.Throws<UserErrorException>(() => CheckpointFile.Decode(bytes, "c", other)));
        var flipped = (byte[])bytes.Clone();
        flipped[40] ^= 1;
        Assert.Contains("checksum mismatch", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(flipped, "c", key)).Message);
        // version 1 files are still read without a key
        Assert.Equal(c.Parameters, CheckpointFile.Decode(CheckpointFile.Encode(c), "c").Parameters);
    }

    [Fact]
    public void A_key_file_that_is_short_open_to_others_or_missing_is_a_one_line_error()
    {
        string shortKey = KeyFile("short", 16), open = KeyFile("open", 64, Rw | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal($"--checkpoint-key {shortKey}: the key holds 16 bytes, at least 32 are needed (e.g. head -c 32 /dev/urandom > {shortKey})",
            Assert.Throws<UserErrorException>(() => CheckpointKey.Load(shortKey)).Message);
        Assert.Equal($"--checkpoint-key {open}: permissions 0644 are too open: the key must be readable by its owner only (chmod 600 {open})",
            Assert.Throws<UserErrorException>(() => CheckpointKey.Load(open)).Message);
        Assert.StartsWith($"--checkpoint-key {_dir.File("none")}: cannot read the key (", Assert.Throws<UserErrorException>(() => CheckpointKey.Load(_dir.File("none"))).Message);
    }

    private string WriteCsv()
    {
        string data = _dir.File("data.csv");
        var rng = new Random(4);
        File.WriteAllLines(data, new[] { "a,b,label" }.Concat(Enumerable.Range(0, 240).Select(_ =>
        {
            double a = rng.NextDouble(), b = rng.NextDouble();
            return FormattableString.Invariant($"{a:F4},{b:F4},{(a > b ? 1 : 0)}");
        })));
        return data;
    }

    private static string Hash(string metrics)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
        return doc.RootElement.GetProperty("weights_sha256").GetString()!;
    }

    [Fact]
    public void A_planted_checkpoint_is_refused_and_the_runs_own_resume_to_the_same_weights()
    {
        string data = WriteCsv(), key = KeyFile("ckpt.key"), ckpt = _dir.File("ckpt");
        string[] run = ["train", "--data", data, "--layers", "2,10,2", "--epochs", "3", "--batch", "16", "--optimizer", "adam", "--lr", "0.01"];
        var (exit, output, err) = CliRunner.Run([.. run, "--checkpoint-dir", ckpt, "--checkpoint-every", "5", "--checkpoint-key", key,
            "--metrics-out", _dir.File("m1.json"), "--out", _dir.File("r1")]);
        Assert.True(exit == 0, err + output);
        var files = Checkpointer.Existing(ckpt).ToList();
        Assert.All(files, f => Assert.Equal(Rw, File.GetUnixFileMode(f)));

        // the newest rewritten with other weights and a recomputed SHA-256, then as an unauthenticated file: refused, by name
        string newest = files[0];
        var genuine = File.ReadAllBytes(newest);
        var decoded = CheckpointFile.Decode(genuine, newest, CheckpointKey.Load(key));
        var unauthenticated = CheckpointFile.Encode(decoded with { Parameters = decoded.Parameters.Select(x => -x).ToArray() });
        foreach (var forged in new[] { WithOtherWeights(genuine, decoded), unauthenticated })
        {
            File.WriteAllBytes(newest, forged);
            (exit, output, err) = CliRunner.Run(["train", "--data", data, "--resume", ckpt, "--checkpoint-key", key, "--out", _dir.File("r-planted")]);
            Assert.Equal(1, exit);
            Assert.Single(err.TrimEnd().Split('\n'));
            Assert.StartsWith($"error: {newest} was not written with this --checkpoint-key (", err);
            Assert.DoesNotContain("resume  ", output);
        }

        // without the key, the run's checkpoints are not taken either
        File.Delete(newest);
        (exit, _, err) = CliRunner.Run(["train", "--data", data, "--resume", ckpt, "--out", _dir.File("r-nokey")]);
        Assert.Equal(1, exit);
        Assert.Equal($"error: {files[1]} was written with a --checkpoint-key: give the same key to resume from it", err.TrimEnd());

        // with it, an earlier one of the run's own continues to the uninterrupted run's weights, bit for bit
        (exit, output, err) = CliRunner.Run(["train", "--data", data, "--resume", ckpt, "--checkpoint-key", key,
            "--metrics-out", _dir.File("m2.json"), "--out", _dir.File("r2")]);
        Assert.True(exit == 0, err + output);
        Assert.Contains($"resume  {files[1]}", output);
        Assert.Equal(Hash(_dir.File("m1.json")), Hash(_dir.File("m2.json")));
    }
}
