using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// Which dropout masks a gradient call draws: those of step <see cref="Step"/> of <see cref="Epoch"/> under the run's
/// <see cref="Seed"/>, the call's first shard being shard <see cref="FirstShard"/> of the step. A shard's masks depend
/// on nothing else, so a shard computed on a worker drops the same units as in a single process.
/// </summary>
public readonly record struct DropoutKey(ulong Seed, int Epoch, int Step, int FirstShard = 0)
{
    internal Rng For(int shard) => Start(new Rng(0), shard);

    /// <summary>Restarts <paramref name="rng"/> as the stream of the call's shard <paramref name="shard"/>.</summary>
    internal Rng Start(Rng rng, int shard)
    {
        rng.Restart(Seed, stream: 3, index: ((ulong)(uint)Epoch << 40) ^ ((ulong)(uint)Step << 16) ^ (ulong)(uint)(FirstShard + shard));
        return rng;
    }
}
