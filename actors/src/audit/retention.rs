//! Retention: records older than `audit.retention_days` are deleted by a
//! background task of the core, oldest first. It is the only code that
//! removes audit records; no route does.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Audit, text_key};
use crate::error::CoreError;
use crate::model::{AuditRecord, now_ms};
use tokio_util::sync::CancellationToken;

/// How often the pruner runs (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Records removed per transaction, so a large backlog never holds the
/// store's write lock for long.
const BATCH: usize = 500;

/// The audit log's settings (`[audit]`).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// How long a record is kept (`audit.retention_days`).
    pub retention: Duration,
    /// The quiet period that closes a burst of failed sign-ins
    /// (`audit.login_burst_quiet_ms`).
    pub login_burst_quiet: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(365 * 86_400),
            login_burst_quiet: Duration::from_secs(60),
        }
    }
}

impl Audit {
    /// Deletes every record created before `cutoff` (unix ms), with its
    /// index entries; answers how many.
    pub async fn prune_before(&self, cutoff: i64) -> Result<usize, CoreError> {
        let mut removed = 0;
        loop {
            let mut old: Vec<AuditRecord> = Vec::new();
            for item in self.records.iter().take(BATCH) {
                let (_, record) = item?;
                // Key order is time order: the first young record ends the pass.
                if record.created_at >= cutoff {
                    break;
                }
                old.push(record);
            }
            if old.is_empty() {
                break;
            }
            self.remove_all(&old)?;
            removed += old.len();
            self.count.fetch_sub(old.len() as u64, Ordering::Relaxed);
            if old.len() < BATCH {
                break;
            }
        }
        if removed > 0 {
            self.store.commit().await?;
            tracing::info!(removed, "old audit records pruned");
        }
        Ok(removed)
    }

    fn remove_all(&self, old: &[AuditRecord]) -> Result<(), CoreError> {
        let tables: [&dyn crate::store::TableRef; 4] = [
            &self.records,
            &self.by_actor,
            &self.by_action,
            &self.by_type,
        ];
        self.store.transaction_unflushed(&tables, |tx| {
            for r in old {
                tx.remove(&self.records, &r.id)?;
                if let Some(actor) = r.actor_id {
                    tx.remove(&self.by_actor, &(actor, r.id))?;
                }
                let (action, kind): (Vec<u8>, Vec<u8>) =
                    (text_key(&r.action, r.id), text_key(&r.resource_type, r.id));
                tx.remove(&self.by_action, action.as_slice())?;
                tx.remove(&self.by_type, kind.as_slice())?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Prunes past `retention` at start and then every hour, until `stop`.
    pub(crate) async fn prune_until(self, retention: Duration, stop: CancellationToken) {
        let keep_ms = retention.as_millis().min(i64::MAX as u128) as i64;
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.prune_before(now_ms().saturating_sub(keep_ms)).await {
                tracing::error!(error = %e, "audit retention pass failed");
            }
        }
    }
}
