using DistributedNN.Coordinator;

namespace DistributedNN.Tests.Coordination;

/// <summary>Who computes what, without actors or clocks: the scheduler's rules for shards and evaluation chunks alike.</summary>
public sealed class WorkSchedulerTests
{
    private static WorkScheduler With(params (int Worker, int Capacity)[] workers)
    {
        var s = new WorkScheduler();
        foreach (var (w, c) in workers) s.Add(w, c);
        return s;
    }

    private static Dictionary<int, int[]> Given(WorkScheduler s) => s.Dispatch().ToDictionary(a => a.Worker, a => a.Items);

    [Fact]
    public void Items_go_round_robin_to_workers_with_room_and_each_is_given_once()
    {
        var s = With((1, 2), (2, 3));
        s.Begin(7);
        var given = Given(s);
        Assert.Equal([0, 2], given[1]);
        Assert.Equal([1, 3, 4], given[2]);
        Assert.Empty(s.Dispatch()); // everyone is full
        s.Complete(2, 1);
        Assert.Equal([5], Given(s)[1]); // room again: the next item
        Assert.False(s.IsAssigned(5, 2));
        Assert.Throws<InvalidOperationException>(() => s.Complete(5, 2)); // not its item
        foreach (var (item, worker) in new[] { (0, 1), (1, 2), (3, 2), (4, 2), (5, 1) }) s.Complete(item, worker);
        Assert.Equal([6], Given(s)[1]);
        s.Complete(6, 1);
        Assert.True(s.AllComplete);
        Assert.Equal(7, s.Completed);
    }

    [Fact]
    public void A_sound_result_from_a_worker_that_does_not_hold_the_item_counts_once_unless_the_item_is_verified_twice()
    {
        var s = With((1, 1), (2, 1));
        s.Begin(4, twice: [3]);
        var given = Given(s);
        Assert.Equal([0], given[1]);
        Assert.Equal([1], given[2]);
        // worker 2 delivers item 0, held by worker 1: it counts, and worker 1 has room again
        Assert.True(s.CanClaim(0, 2));
        s.Claim(0, 2);
        s.Complete(0, 2);
        Assert.False(s.IsAssigned(0, 1));
        Assert.False(s.CanClaim(0, 1)); // delivered: a second result is overtaken
        // a queued item, delivered before anyone was given it: out of the queue
        Assert.True(s.CanClaim(2, 1));
        s.Claim(2, 1);
        s.Complete(2, 1);
        Assert.DoesNotContain(2, s.Dispatch().SelectMany(a => a.Items));
        // an item verified twice counts only from the workers it was given to, and a quarantined worker claims nothing
        Assert.False(s.CanClaim(3, 1));
        for (int i = 0; i < WorkScheduler.QuarantineAfter; i++) s.Bad(2);
        Assert.False(s.CanClaim(1, 2));
        Assert.Throws<InvalidOperationException>(() => s.Claim(1, 2));
    }

    [Fact]
    public void A_removed_worker_hands_its_items_back_to_the_queue()
    {
        var s = With((1, 2), (2, 2));
        s.Begin(4);
        Given(s);
        Assert.Equal([0, 2], s.Remove(1));
        Assert.False(s.Contains(1));
        Assert.Empty(s.Dispatch()); // worker 2 is full
        s.Complete(1, 2);
        Assert.Equal([0], Given(s)[2]);
        Assert.Equal(2, s.Owner(0));
        Assert.Equal(-1, s.Owner(2)); // queued, nobody's
    }

    [Fact]
    public void A_deadline_takes_late_items_back_and_suspects_work_only_when_nobody_else_can()
    {
        var s = With((1, 1), (2, 1), (3, 1));
        s.Begin(4);
        Assert.Equal(3, s.Dispatch().Count);
        s.Complete(1, 2);
        s.Complete(2, 3);
        var outcome = s.Deadline(countStalls: true);
        Assert.False(outcome.Stalled);
        Assert.Equal([(0, 1)], outcome.Late);
        // worker 1 is a suspect: the healthy ones take the queue (item 3 still waits, then item 0)
        var given = Given(s);
        Assert.False(given.ContainsKey(1));
        Assert.Equal([3], given[2]);
        Assert.Equal([0], given[3]);
        // a suspect that delivers is trusted again; with everyone else gone, suspects get work
        s.Begin(2);
        s.Remove(2);
        s.Remove(3);
        Assert.Equal([0], Given(s)[1]);
    }

    [Fact]
    public void Deadlines_without_progress_stall_a_training_round_but_not_an_evaluation()
    {
        var s = With((1, 4));
        s.Begin(2);
        Given(s);
        for (int d = 1; d < WorkScheduler.MaxStalledDeadlines; d++)
        {
            Assert.False(s.Deadline(countStalls: true).Stalled);
            Given(s); // handed out again: still nothing comes back
        }
        Assert.True(s.Deadline(countStalls: true).Stalled);
        s.Begin(2);
        Given(s);
        for (int d = 0; d < 2 * WorkScheduler.MaxStalledDeadlines; d++)
        {
            Assert.False(s.Deadline(countStalls: false).Stalled);
            Given(s);
        }
        // with no healthy worker nothing is late: the wait for workers decides
        s.Remove(1);
        Assert.Empty(s.Deadline(countStalls: true).Late);
    }

    [Fact]
    public void Bad_results_quarantine_a_worker_and_its_items_go_to_the_others()
    {
        var s = With((1, 2), (2, 2));
        s.Begin(3);
        Given(s);
        for (int i = 1; i < WorkScheduler.QuarantineAfter; i++) Assert.False(s.Bad(1));
        Assert.True(s.Bad(1));
        Assert.False(s.Bad(1)); // once
        Assert.True(s.IsQuarantined(1));
        Assert.Equal(1, s.HealthyCount);
        Assert.Equal(-1, s.Owner(0));
        s.Complete(1, 2);
        Assert.Equal([0, 2], Given(s)[2]); // the quarantined worker's items, to the one with room
        Assert.DoesNotContain(s.Dispatch(), a => a.Worker == 1);
        s.Remove(2);
        Assert.False(s.AnyHealthy);
    }

    [Fact]
    public void A_non_finite_item_is_redone_by_another_worker_and_two_agreeing_workers_mean_divergence()
    {
        var s = With((1, 2), (2, 2), (3, 2));
        s.Begin(6);
        Given(s); // 1: 0 3, 2: 1 4, 3: 2 5
        s.Complete(1, 2);
        var first = s.NonFinite(0, 1);
        Assert.False(first.Diverged);
        Assert.Equal(2, first.Redo!.Worker); // the healthy worker with the fewest items in flight
        Assert.Equal([0], first.Redo.Items);
        Assert.True(s.IsAssigned(0, 2));
        var second = s.NonFinite(0, 2);
        Assert.True(second.Diverged);
        Assert.Equal(2, second.Reporters);
    }

    [Fact]
    public void The_only_worker_redoes_its_own_item_and_a_second_NaN_from_it_means_divergence()
    {
        var s = With((1, 2));
        s.Begin(2);
        Given(s);
        var redo = s.NonFinite(1, 1);
        Assert.Equal(1, redo.Redo!.Worker);
        Assert.Equal([1], redo.Redo.Items);
        Assert.True(s.NonFinite(1, 1).Diverged);
    }

    [Fact]
    public void A_new_round_forgets_what_workers_held()
    {
        var s = With((1, 1));
        s.Begin(3);
        Given(s);
        s.Begin(2);
        Assert.Equal(0, s.Completed);
        Assert.Equal(2, s.Items);
        Assert.Equal([0], Given(s)[1]); // the capacity is free again
    }

    [Fact]
    public void A_cut_off_worker_loses_its_items_at_once_and_gets_none_until_it_is_reachable_again()
    {
        var s = With((1, 2), (2, 2));
        s.Begin(6);
        Given(s); // 1: 0, 2; 2: 1, 3
        Assert.Equal([0, 2], s.CutOff(1));
        Assert.True(s.IsCutOff(1));
        Assert.Equal(1, s.HealthyCount);
        Assert.Empty(s.CutOff(1)); // once
        Assert.False(s.IsAssigned(0, 1)); // a late result from it is not its any more
        s.Complete(1, 2);
        s.Complete(3, 2);
        Assert.Equal([4, 5], Given(s)[2]); // the queue to the other, its items last; none to it
        Assert.Empty(s.Dispatch()); // its own two wait: the other is full, and it is cut off
        Assert.True(s.Reconnect(1));
        Assert.False(s.Reconnect(1));
        Assert.Equal(2, s.HealthyCount);
        Assert.Equal([0, 2], Given(s)[1]); // back: it takes work again, first in line (not a suspect: cut off, not slow)
    }

    [Fact]
    public void While_the_only_worker_is_cut_off_nothing_is_given_out_and_deadlines_count_no_stall()
    {
        var s = With((1, 2));
        s.Begin(2);
        Given(s);
        s.CutOff(1);
        Assert.False(s.AnyHealthy);
        Assert.Empty(s.Dispatch());
        for (int i = 0; i < WorkScheduler.MaxStalledDeadlines + 1; i++)
        {
            var outcome = s.Deadline(countStalls: true); // the run waits for it (or a new worker), as for a lost one
            Assert.False(outcome.Stalled);
            Assert.Empty(outcome.Late);
        }
        s.Reconnect(1);
        Assert.Equal([0, 1], Given(s)[1]);
    }

    [Fact]
    public void A_cut_off_worker_is_not_given_a_NaN_redo()
    {
        var s = With((1, 1), (2, 1), (3, 1));
        s.Begin(3);
        Given(s); // 1: 0; 2: 1; 3: 2
        s.CutOff(3);
        var verdict = s.NonFinite(0, 1);
        Assert.Equal(2, verdict.Redo!.Worker); // the reachable one, though worker 3 holds fewer items
    }
}
