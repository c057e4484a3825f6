//! The scheduler: which job runs next. Higher priority first, then FIFO
//! (job ids are time-ordered), at most `concurrency` at once; a job due
//! later waits in a timer queue. It only decides; each job's actor runs it
//! and reports back with `Done` when the slot is free.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::actor::{JobActor, JobMsg};
use crate::model::now_ms;
use crate::supervisor::Supervisor;

enum SchedMsg {
    Enqueue {
        id: Uuid,
        priority: u8,
        due: Option<i64>,
    },
    Done,
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

    /// Queues a job to run when a slot is free (and not before `due`, Unix ms).
    pub fn enqueue(&self, id: Uuid, priority: u8, due: Option<i64>) {
        let _ = self.tx.send(SchedMsg::Enqueue { id, priority, due });
    }

    /// A job that was handed a slot has given it back.
    pub fn done(&self) {
        let _ = self.tx.send(SchedMsg::Done);
    }

    /// Runs until every `Scheduler` handle is gone.
    pub fn run(inbox: SchedulerInbox, actors: Supervisor<JobActor>, concurrency: usize) {
        tokio::spawn(schedule(inbox.0, actors, concurrency.max(1)));
    }
}

async fn schedule(
    mut rx: mpsc::UnboundedReceiver<SchedMsg>,
    actors: Supervisor<JobActor>,
    limit: usize,
) {
    let mut ready: BinaryHeap<(u8, Reverse<Uuid>)> = BinaryHeap::new();
    let mut later: BTreeMap<(i64, Uuid), u8> = BTreeMap::new();
    let mut running = 0usize;
    loop {
        let now = now_ms();
        while let Some(entry) = later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), priority) = entry.remove_entry();
            ready.push((priority, Reverse(id)));
        }
        while running < limit {
            let Some((_, Reverse(id))) = ready.pop() else {
                break;
            };
            running += 1;
            if actors.cast(&id, JobMsg::Run).await.is_err() {
                // Deleted meanwhile, or its actor is down: the slot is free.
                running -= 1;
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
                Some(SchedMsg::Enqueue { id, priority, due }) => match due {
                    Some(due) if due > now_ms() => {
                        later.insert((due, id), priority);
                    }
                    _ => ready.push((priority, Reverse(id))),
                },
                Some(SchedMsg::Done) => running = running.saturating_sub(1),
                None => return,
            },
            () = sleep => {}
        }
    }
}
