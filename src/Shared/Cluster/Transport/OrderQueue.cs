using System.Collections.Concurrent;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>The orders a worker's tcp or akka link received, for its order loop.</summary>
internal static class OrderQueue
{
    /// <summary>Queues an order unless the link was closed meanwhile (then it is dropped: the coordinator's deadline covers it).</summary>
    public static void Add(BlockingCollection<WorkOrder> orders, WorkOrder order)
    {
        try { orders.Add(order); }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException) { }
    }

    /// <summary>No more orders: wakes a waiting <see cref="Take"/> for good (whether or not the queue is still there).</summary>
    public static void Complete(BlockingCollection<WorkOrder> orders)
    {
        try { orders.CompleteAdding(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>The next order within <paramref name="timeoutMs"/>, or null (none, or the link is closed).</summary>
    public static WorkOrder? Take(BlockingCollection<WorkOrder> orders, int timeoutMs)
    {
        try { return orders.TryTake(out var order, timeoutMs) ? order : null; }
        catch (ObjectDisposedException) { return null; }
    }
}
