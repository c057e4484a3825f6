//! The scheduler task: which job runs next (the fair [`ReadyQueue`]), with a
//! timer queue for jobs due later. It only decides; each job's actor runs it
//! and reports back with `done` when the slot is free. The task belongs to
//! the core's [`Background`] and ends when shutdown begins.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::actor::{JobActor, JobMsg};
use super::fair::ReadyQueue;
use crate::background::Background;
use crate::model::now_ms;
use crate::supervisor::Supervisor;

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

    /// Runs on `background` until shutdown begins.
    pub fn run(
        inbox: SchedulerInbox,
        actors: Supervisor<JobActor>,
        concurrency: usize,
        background: &Background,
    ) {
        background.spawn_with(|stop| schedule(inbox.0, actors, concurrency, stop));
    }
}

/// A job due later: (due, id) -> (owner, priority).
type Later = BTreeMap<(i64, Uuid), (Uuid, u8)>;

async fn schedule(
    mut rx: mpsc::UnboundedReceiver<SchedMsg>,
    actors: Supervisor<JobActor>,
    limit: usize,
    stop: CancellationToken,
) {
    let mut ready = ReadyQueue::new(limit);
    let mut later = Later::new();
    loop {
        let now = now_ms();
        while let Some(entry) = later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), (owner, priority)) = entry.remove_entry();
            ready.push(id, owner, priority);
        }
        while let Some(id) = ready.next() {
            if actors.cast(&id, JobMsg::Run).await.is_err() {
                // Deleted meanwhile, or its actor is down: the slot is free.
                ready.done(id);
            }
        }
        let wake = later.keys().next().map(|(due, _)| *due);
        let sleep = async {
            match wake {
                Some(due) => {
                    let wait = u64::try_from(due - now_ms()).unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(SchedMsg::Enqueue { id, owner, priority, due }) => match due {
                    Some(due) if due > now_ms() => {
                        later.insert((due, id), (owner, priority));
                    }
                    _ => ready.push(id, owner, priority),
                },
                Some(SchedMsg::Done(id)) => ready.done(id),
                None => return,
            },
            () = sleep => {}
            // What is queued is in the active index: start-up resumes it.
            () = stop.cancelled() => return,
        }
    }
}
