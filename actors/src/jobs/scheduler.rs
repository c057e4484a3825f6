//! The scheduler task: which job runs next (the fair [`ReadyQueue`]), with a
//! timer queue for jobs due later. It only decides; each job's actor runs it
//! and reports back with `done` when the slot is free. The task belongs to
//! the core's [`Background`] and ends when shutdown begins.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::fair::ReadyQueue;
use crate::background::Background;
use crate::model::now_ms;

enum SchedMsg {
    Enqueue {
        id: Uuid,
        owner: Uuid,
        priority: u8,
        due: Option<i64>,
    },
    Done(Uuid),
}

/// Talks to the scheduler task. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::UnboundedSender<SchedMsg>,
}

/// The scheduler's receiving end, until [`Scheduler::run`] takes it.
pub struct SchedulerInbox(mpsc::UnboundedReceiver<SchedMsg>);

impl Scheduler {
    pub fn new() -> (Self, SchedulerInbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, SchedulerInbox(rx))
    }

    /// Queues `owner`'s job to run when a slot is free (and not before
    /// `due`, Unix ms).
    pub fn enqueue(&self, id: Uuid, owner: Uuid, priority: u8, due: Option<i64>) {
        let msg = SchedMsg::Enqueue {
            id,
            owner,
            priority,
            due,
        };
        let _ = self.tx.send(msg);
    }

    /// Job `id`, which was handed a slot, has given it back.
    pub fn done(&self, id: Uuid) {
        let _ = self.tx.send(SchedMsg::Done(id));
    }

    /// Runs on `background` until shutdown begins. `dispatch` hands a job
    /// its slot and answers whether the job took it (a deleted job, or one
    /// whose actor is down, does not: its slot is free again at once).
    pub fn run<F, Fut>(
        inbox: SchedulerInbox,
        dispatch: F,
        concurrency: usize,
        background: &Background,
    ) where
        F: Fn(Uuid) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        background.spawn_with(|stop| schedule(inbox.0, dispatch, concurrency, now_ms, stop));
    }
}

/// How long a job waits, after attempt `failed` (1-based) failed, before its
/// next attempt: 1 s, 2 s, 4 s ... doubling up to 2^16 s (about 18 hours).
pub(super) fn retry_delay_ms(failed: u32) -> i64 {
    1000i64 << failed.saturating_sub(1).min(16)
}

/// The scheduler's decisions, without the task or the clock: jobs due
/// later wait in a timer queue, due ones move to the fair [`ReadyQueue`].
/// Time is passed in (Unix ms), so tests drive it exactly.
pub(super) struct Plan {
    ready: ReadyQueue,
    /// (due, id) -> (owner, priority).
    later: BTreeMap<(i64, Uuid), (Uuid, u8)>,
}

impl Plan {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            ready: ReadyQueue::new(limit),
            later: BTreeMap::new(),
        }
    }

    /// Queues a job: ready now, or in the timer queue until `due`.
    pub(super) fn enqueue(
        &mut self,
        id: Uuid,
        owner: Uuid,
        priority: u8,
        due: Option<i64>,
        now: i64,
    ) {
        match due {
            Some(due) if due > now => {
                self.later.insert((due, id), (owner, priority));
            }
            _ => self.ready.push(id, owner, priority),
        }
    }

    /// The next job to hand a slot to at `now`, if a slot is free and a job
    /// is due. The job holds its slot until [`Plan::done`].
    pub(super) fn next(&mut self, now: i64) -> Option<Uuid> {
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), (owner, priority)) = entry.remove_entry();
            self.ready.push(id, owner, priority);
        }
        self.ready.next()
    }

    /// Job `id` has given its slot back.
    pub(super) fn done(&mut self, id: Uuid) {
        self.ready.done(id);
    }

    /// When the earliest job waiting in the timer queue is due.
    pub(super) fn wake_at(&self) -> Option<i64> {
        self.later.keys().next().map(|(due, _)| *due)
    }
}

/// The task: `clock` is the time due times are in (Unix ms; tests pass one
/// that follows tokio's paused clock), and the timer queue sleeps on
/// tokio's timer.
async fn schedule<F, Fut>(
    mut rx: mpsc::UnboundedReceiver<SchedMsg>,
    dispatch: F,
    limit: usize,
    clock: impl Fn() -> i64,
    stop: CancellationToken,
) where
    F: Fn(Uuid) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut plan = Plan::new(limit);
    loop {
        while let Some(id) = plan.next(clock()) {
            if !dispatch(id).await {
                plan.done(id);
            }
        }
        let sleep = async {
            match plan.wake_at() {
                Some(due) => {
                    let wait = u64::try_from(due - clock()).unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(SchedMsg::Enqueue { id, owner, priority, due }) => {
                    plan.enqueue(id, owner, priority, due, clock());
                }
                Some(SchedMsg::Done(id)) => plan.done(id),
                None => return,
            },
            () = sleep => {}
            // What is queued is in the active index: start-up resumes it.
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::paused_time::{millis_since, tick};

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn a_job_due_later_waits_until_its_time_then_runs() {
        let mut plan = Plan::new(4);
        let owner = Uuid::now_v7();
        let [later, now] = ids(2)[..] else {
            unreachable!()
        };
        plan.enqueue(later, owner, 5, Some(1_500), 1_000);
        plan.enqueue(now, owner, 5, None, 1_000);
        assert_eq!(plan.next(1_000), Some(now));
        assert_eq!(plan.next(1_000), None, "not due before its time");
        assert_eq!(plan.wake_at(), Some(1_500));
        assert_eq!(plan.next(1_499), None, "not due one millisecond early");
        assert_eq!(plan.next(1_500), Some(later), "due exactly on time");
        assert_eq!(plan.wake_at(), None);
    }

    #[test]
    fn a_due_job_waits_for_a_free_slot_and_gets_it_when_one_is_done() {
        let mut plan = Plan::new(1);
        let owner = Uuid::now_v7();
        let [first, second] = ids(2)[..] else {
            unreachable!()
        };
        plan.enqueue(first, owner, 5, None, 0);
        plan.enqueue(second, owner, 5, Some(10), 0);
        assert_eq!(plan.next(0), Some(first));
        assert_eq!(plan.next(20), None, "the one slot is held");
        plan.done(first);
        assert_eq!(plan.next(20), Some(second));
    }

    #[test]
    fn a_due_time_in_the_past_is_ready_at_once() {
        let mut plan = Plan::new(2);
        let id = Uuid::now_v7();
        plan.enqueue(id, Uuid::now_v7(), 5, Some(500), 1_000);
        assert_eq!(plan.wake_at(), None);
        assert_eq!(plan.next(1_000), Some(id));
    }

    #[test]
    fn jobs_due_at_the_same_time_run_by_priority() {
        let mut plan = Plan::new(1);
        let owner = Uuid::now_v7();
        let [low, high] = ids(2)[..] else {
            unreachable!()
        };
        plan.enqueue(low, owner, 1, Some(100), 0);
        plan.enqueue(high, owner, 9, Some(100), 0);
        assert_eq!(plan.next(100), Some(high));
        plan.done(high);
        assert_eq!(plan.next(100), Some(low));
    }

    #[test]
    fn retry_delays_double_from_one_second_and_stop_growing_at_two_to_the_sixteen() {
        let delays: Vec<i64> = (1..=4).map(retry_delay_ms).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000]);
        assert_eq!(retry_delay_ms(17), 65_536_000);
        assert_eq!(retry_delay_ms(18), 65_536_000);
        assert_eq!(retry_delay_ms(u32::MAX), 65_536_000, "no overflow");
        assert_eq!(retry_delay_ms(0), 1_000, "no underflow");
    }

    #[test]
    fn a_failed_job_is_due_again_one_backoff_after_it_failed() {
        let mut plan = Plan::new(1);
        let (id, owner) = (Uuid::now_v7(), Uuid::now_v7());
        plan.enqueue(id, owner, 5, None, 0);
        assert_eq!(plan.next(0), Some(id));
        // The first attempt fails at 250 ms: its slot goes back, and the
        // job waits one backoff.
        plan.done(id);
        plan.enqueue(id, owner, 5, Some(250 + retry_delay_ms(1)), 250);
        assert_eq!(plan.next(1_249), None);
        assert_eq!(plan.next(1_250), Some(id));
    }

    /// The scheduler task on paused time, its clock following tokio's.
    struct Running {
        scheduler: Scheduler,
        /// Jobs handed a slot, in order.
        dispatched: mpsc::UnboundedReceiver<Uuid>,
        origin: tokio::time::Instant,
        _stop: tokio_util::sync::DropGuard,
    }

    impl Running {
        fn start(limit: usize) -> Self {
            let (scheduler, inbox) = Scheduler::new();
            let (tx, dispatched) = mpsc::unbounded_channel();
            let dispatch = move |id| {
                let tx = tx.clone();
                async move { tx.send(id).is_ok() }
            };
            let origin = tokio::time::Instant::now();
            let stop = CancellationToken::new();
            let clock = move || millis_since(origin);
            tokio::spawn(schedule(inbox.0, dispatch, limit, clock, stop.clone()));
            Self {
                scheduler,
                dispatched,
                origin,
                _stop: stop.drop_guard(),
            }
        }

        fn now(&self) -> i64 {
            millis_since(self.origin)
        }

        fn enqueue_in(&self, id: Uuid, ms: i64) {
            let due = self.now() + ms;
            self.scheduler.enqueue(id, Uuid::nil(), 5, Some(due));
        }

        /// The job handed a slot since the last look, if any.
        fn handed_out(&mut self) -> Option<Uuid> {
            self.dispatched.try_recv().ok()
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn the_task_hands_out_a_job_due_later_on_its_millisecond_not_before() {
        let mut run = Running::start(4);
        let id = Uuid::now_v7();
        run.enqueue_in(id, 1_000);
        tick(Duration::from_millis(999)).await;
        assert_eq!(run.handed_out(), None, "handed out before it was due");
        tick(MS).await;
        assert_eq!(run.handed_out(), Some(id));
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_due_sooner_wakes_the_task_that_sleeps_for_a_later_one() {
        let mut run = Running::start(4);
        let (later, sooner) = (Uuid::now_v7(), Uuid::now_v7());
        run.enqueue_in(later, 1_000);
        tick(Duration::from_millis(10)).await;
        // The task now sleeps until 1,000 ms; this one is due at 110 ms.
        run.enqueue_in(sooner, 100);
        tick(Duration::from_millis(99)).await;
        assert_eq!(run.handed_out(), None);
        tick(MS).await;
        assert_eq!(run.handed_out(), Some(sooner));
        tick(Duration::from_millis(889)).await;
        assert_eq!(run.handed_out(), None);
        tick(MS).await;
        assert_eq!(run.handed_out(), Some(later));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_attempt_comes_round_again_after_its_backoff_and_not_before() {
        let mut run = Running::start(1);
        let id = Uuid::now_v7();
        run.scheduler.enqueue(id, Uuid::nil(), 5, None);
        tick(Duration::ZERO).await;
        assert_eq!(run.handed_out(), Some(id));
        // As the job's actor does when attempt `n` fails: the slot goes
        // back, and the job is queued again one backoff later.
        for attempt in 1..=3 {
            tick(Duration::from_millis(250)).await;
            run.scheduler.done(id);
            let backoff = retry_delay_ms(attempt);
            run.enqueue_in(id, backoff);
            tick(Duration::from_millis(backoff as u64) - MS).await;
            assert_eq!(run.handed_out(), None, "attempt {attempt}: retried early");
            tick(MS).await;
            assert_eq!(run.handed_out(), Some(id), "attempt {attempt}");
        }
    }
}
