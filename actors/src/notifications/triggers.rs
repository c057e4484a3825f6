//! The triggers that are not a single call: jobs that ended (read from
//! the jobs' `ended` feed, which is passed on to the webhooks unchanged)
//! and the monthly allowance thresholds (once each per month).

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Notice, Notifications};
use crate::background::Background;
use crate::model::Job;

/// Quota levels, as stored in the marks table.
const WARNING: u32 = 80;
const EXCEEDED: u32 = 100;

/// Notifies the owner of each job that ends on `ended` (never for system
/// jobs), after passing the job on to the receiver it answers (the
/// webhooks' feed, unchanged). `document_title(user, id)` names the
/// document of a `document.ingest` job. Runs on `background`; at shutdown
/// it first handles what already ended.
pub fn watch_ended_jobs(
    notifications: Notifications,
    mut ended: mpsc::UnboundedReceiver<Job>,
    document_title: impl Fn(Uuid, Uuid) -> Option<String> + Send + Sync + 'static,
    background: &Background,
) -> mpsc::UnboundedReceiver<Job> {
    let (onward, onward_rx) = mpsc::unbounded_channel();
    background.spawn_with(|stop| async move {
        let handle = async |job: Job| {
            let _ = onward.send(job.clone());
            if crate::jobs::is_system(&job) {
                return;
            }
            let title =
                super::notice::document_of(&job).and_then(|d| document_title(job.user_id, d));
            if let Some(notice) = Notice::job_ended(&job, title) {
                notifications.send(job.user_id, notice).await;
            }
        };
        loop {
            let job = tokio::select! {
                job = ended.recv() => job,
                () = stop.cancelled() => break,
            };
            let Some(job) = job else { return };
            handle(job).await;
        }
        while let Ok(job) = ended.try_recv() {
            handle(job).await;
        }
    });
    onward_rx
}

impl Notifications {
    /// `user` has used `used` tokens of `allowance` in month `month`
    /// (`yyyymm`): past 80% and past 100% each send one notice per month,
    /// however many calls pass them (100% in one step sends only
    /// `quota.exceeded`). Durable with the next commit, like the usage it
    /// follows; a failure is logged.
    pub fn quota_used(&self, user: Uuid, month: u32, used: u64, allowance: u64) {
        let level = if used >= allowance {
            EXCEEDED
        } else if used.saturating_mul(100) >= allowance.saturating_mul(u64::from(WARNING)) {
            WARNING
        } else {
            return;
        };
        let new = {
            let _guard = self.tables.locks.lock(&user);
            let marked = |l| self.tables.mark_once_locked(user, month, l);
            // Exceeded marks the warning too: no warning after the fact.
            match level {
                EXCEEDED => marked(WARNING).and_then(|_| marked(EXCEEDED)),
                _ => marked(WARNING),
            }
        };
        let period = format!("{}-{:02}", month / 100, month % 100);
        let sent = new.and_then(|new| {
            new.then(|| {
                self.push(
                    user,
                    Notice::quota(level == EXCEEDED, used, allowance, &period),
                )
            })
            .transpose()
        });
        if let Err(e) = sent {
            tracing::error!(user = %user, error = %e, "a quota notification was not stored");
        }
    }
}
