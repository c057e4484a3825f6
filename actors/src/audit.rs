//! The audit log: who did what, stored in time order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{AuditRecord, now_ms};
use crate::store::{Store, Table};

/// Appends audit records. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    records: Table<Uuid, AuditRecord>,
    /// Records that could not be stored (also the metric
    /// `chorus_audit_write_failures_total`), so a lost record is never silent.
    lost: Arc<AtomicU64>,
    /// Tests make every write fail with this.
    #[cfg(test)]
    fail: Arc<std::sync::atomic::AtomicBool>,
}

/// One event to record.
pub struct AuditEvent<'a> {
    /// The acting user; `None` for anonymous actions (a failed login).
    pub actor_id: Option<Uuid>,
    /// What was done, e.g. `auth.login_failed` or `user.role_changed`.
    pub action: &'a str,
    /// The kind of thing acted on, e.g. `user` or `session`.
    pub resource_type: &'a str,
    /// The acted-on record's id as text; `None` when there is no single target.
    pub resource_id: Option<String>,
    /// Free-form JSON about the action, e.g. the `from` and `to` of a change.
    pub details: serde_json::Value,
    /// The client address the request came from, when the edge knows it.
    pub ip_address: Option<String>,
}

impl Audit {
    /// Opens the audit table in `store`.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        let records = store.table("audit_log")?;
        Ok(Self {
            store,
            records,
            lost: Arc::new(AtomicU64::new(0)),
            #[cfg(test)]
            fail: Arc::default(),
        })
    }

    /// Stores `event` durably. Record ids are UUID v7, so the table is in time order.
    pub async fn record(&self, event: AuditEvent<'_>) -> Result<(), CoreError> {
        #[cfg(test)]
        if self.fail.load(Ordering::Relaxed) {
            return Err(CoreError::Internal("audit write failed (test)".into()));
        }
        let record = AuditRecord {
            id: Uuid::now_v7(),
            actor_id: event.actor_id,
            action: event.action.to_string(),
            resource_type: event.resource_type.to_string(),
            resource_id: event.resource_id,
            details_json: crate::model::JsonText::from_value(&event.details),
            ip_address: event.ip_address,
            created_at: now_ms(),
        };
        self.records.insert(&record.id, &record)?;
        self.store.commit().await?;
        Ok(())
    }

    /// Stores `event` where the caller must go on even if that fails (a
    /// refused login is still refused): a failure is logged and counted,
    /// never hidden.
    pub async fn record_or_log(&self, event: AuditEvent<'_>) {
        let action = event.action.to_string();
        if let Err(e) = self.record(event).await {
            self.lost.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("chorus_audit_write_failures_total", "action" => action.clone())
                .increment(1);
            tracing::error!(error = %e, action, "audit record not stored");
        }
    }

    /// How many records could not be stored since start.
    pub fn lost_records(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Makes every later write fail (tests of the failure path).
    #[cfg(test)]
    pub(crate) fn fail_writes(&self) {
        self.fail.store(true, Ordering::Relaxed);
    }

    /// The newest records first, at most `limit`.
    pub fn recent(&self, limit: usize) -> Result<Vec<AuditRecord>, CoreError> {
        self.records
            .iter()
            .rev()
            .take(limit)
            .map(|r| r.map(|(_, v)| v).map_err(CoreError::from))
            .collect()
    }
}
