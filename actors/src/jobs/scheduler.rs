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
        background.spawn_with(|stop| schedule(inbox.0, dispatch, concurrency, stop));
    }
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

async fn schedule<F, Fut>(
    mut rx: mpsc::UnboundedReceiver<SchedMsg>,
    dispatch: F,
    limit: usize,
    stop: CancellationToken,
) where
    F: Fn(Uuid) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut plan = Plan::new(limit);
    loop {
        while let Some(id) = plan.next(now_ms()) {
            if !dispatch(id).await {
                plan.done(id);
            }
        }
        let sleep = async {
            match plan.wake_at() {
                Some(due) => {
                    let wait = u64::try_from(due - now_ms()).unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(SchedMsg::Enqueue { id, owner, priority, due }) => {
                    plan.enqueue(id, owner, priority, due, now_ms());
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
    use super::*;

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
}
