using Akka.Actor;
using Akka.Event;

namespace DistributedNN.Protocol;

/// <summary>
/// Protocol messages an actor ignored because of who sent them (a message is trusted for its sender, never for a name
/// inside it): each is logged as a warning, the first <see cref="Logged"/> of them, then at debug level, so a flood of
/// forgeries cannot flood the log.
/// </summary>
public sealed class IgnoredMessages(ILoggingAdapter log, string why)
{
    public const int Logged = 10;

    public int Count { get; private set; }

    public void Add(object message, IActorRef sender)
    {
        Count++;
        if (Count <= Logged)
            log.Warning("Ignored {Message} from {Sender}: {Why}{More}", message.GetType().Name, sender.Path.ToString(), why,
                Count == Logged ? " (more of these at debug level)" : "");
        else log.Debug("Ignored {Message} from {Sender}: {Why}", message.GetType().Name, sender.Path.ToString(), why);
    }
}
