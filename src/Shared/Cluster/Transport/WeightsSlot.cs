namespace DistributedNN.Transport;

/// <summary>
/// The newest weights a worker received (tcp, akka), and spare buffers for the next ones. The order loop leases the
/// buffer it computes with (<see cref="Lease"/>): that one is never handed out for newer weights until the loop leases
/// another, so weights of version v + 1 arriving mid-computation (the coordinator moved on without this worker's late
/// shard) cannot overwrite the values in use.
/// </summary>
internal sealed class WeightsSlot(int length)
{
    private readonly Lock _gate = new();
    private readonly List<float[]> _spares = new();
    private float[]? _weights, _leased;
    private long _version = -1;

    /// <summary>A buffer to receive weights into (not the leased one).</summary>
    public float[] Rent()
    {
        lock (_gate)
        {
            for (int i = 0; i < _spares.Count; i++)
            {
                var buffer = _spares[i];
                if (ReferenceEquals(buffer, _leased)) continue;
                _spares.RemoveAt(i);
                return buffer;
            }
            return GC.AllocateUninitializedArray<float>(length, pinned: true);
        }
    }

    /// <summary>A rented buffer now holding weights of <paramref name="version"/>: they replace the older ones.</summary>
    public void Publish(float[] buffer, long version)
    {
        lock (_gate)
        {
            if (version < _version)
            {
                _spares.Add(buffer);
                return;
            }
            if (_weights is not null) _spares.Add(_weights);
            (_weights, _version) = (buffer, version);
        }
    }

    /// <summary>Forgets the weights held (a new reduce layout starts again from the coordinator's, which may be older).</summary>
    public void Reset()
    {
        lock (_gate)
        {
            if (_weights is not null) _spares.Add(_weights);
            (_weights, _version) = (null, -1);
        }
    }

    /// <summary>The version held (−1: none).</summary>
    public long Version
    {
        get { lock (_gate) return _version; }
    }

    /// <summary>A buffer refused or abandoned before it was published.</summary>
    public void Return(float[] buffer)
    {
        lock (_gate) _spares.Add(buffer);
    }

    /// <summary>The weights of <paramref name="version"/>, leased to the caller until its next lease; null for any other version.</summary>
    public ReadOnlyMemory<float>? Lease(long version)
    {
        lock (_gate)
        {
            if (_version != version || _weights is null) return null;
            _leased = _weights;
            return _weights;
        }
    }
}
