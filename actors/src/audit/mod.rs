//! The audit log: who did what, stored in time order, append-only. The
//! records sit in one table keyed by v7 id (time order); three index tables
//! (by actor, by action, by resource type) let filtered lists and their
//! totals walk only the matching keys. Nothing outside retention
//! (`retention.rs`) ever removes a record.

mod bursts;
mod query;
mod retention;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{AuditRecord, now_ms};
use crate::store::{Store, Table};

pub use bursts::LOGIN_FAILED;
pub use query::{AuditFilter, AuditPage};
pub use retention::AuditConfig;

/// Appends audit records. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    records: Table<Uuid, AuditRecord>,
    /// `(actor id, record id)`: the records of one actor.
    by_actor: Table<(Uuid, Uuid), ()>,
    /// `action \0 record id`: the records of one action.
    by_action: Table<[u8], ()>,
    /// `resource_type \0 record id`: the records of one resource type.
    by_type: Table<[u8], ()>,
    /// Records in the table, so an unfiltered total walks nothing.
    count: Arc<AtomicU64>,
    /// Open bursts of failed sign-ins, written as one record each when they close.
    bursts: Arc<bursts::LoginBursts>,
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

/// The key of `id` in a text index: the text, a NUL, the id. Actions and
/// resource types hold no NUL, so a prefix of `text \0` matches that text only.
fn text_key(text: &str, id: Uuid) -> Vec<u8> {
    let mut key = text_prefix(text);
    key.extend_from_slice(id.as_bytes());
    key
}

fn text_prefix(text: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(text.len() + 17);
    key.extend_from_slice(text.as_bytes());
    key.push(0);
    key
}

impl Audit {
    /// Opens the audit table and its indexes in `store`.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        let records: Table<Uuid, AuditRecord> = store.table("audit_log")?;
        let count = records.len() as u64;
        Ok(Self {
            by_actor: store.table("audit_by_actor")?,
            by_action: store.table("audit_by_action")?,
            by_type: store.table("audit_by_type")?,
            store,
            records,
            count: Arc::new(AtomicU64::new(count)),
            bursts: Arc::default(),
            lost: Arc::new(AtomicU64::new(0)),
            #[cfg(test)]
            fail: Arc::default(),
        })
    }

    /// Stores `event` durably. Record ids are UUID v7, so the table is in time order.
    pub async fn record(&self, event: AuditEvent<'_>) -> Result<(), CoreError> {
        self.insert(event, None).await
    }

    /// [`Audit::record`] as of `at` (unix ms; records made old in tests): the
    /// id's time is `at` too, so key order stays time order.
    #[cfg(test)]
    pub(crate) async fn record_at(&self, event: AuditEvent<'_>, at: i64) -> Result<(), CoreError> {
        self.insert(event, Some(at)).await
    }

    async fn insert(&self, event: AuditEvent<'_>, at: Option<i64>) -> Result<(), CoreError> {
        #[cfg(test)]
        if self.fail.load(Ordering::Relaxed) {
            return Err(CoreError::Internal("audit write failed (test)".into()));
        }
        let (id, at) = match at {
            // Monotonic within a millisecond, so records of one instant keep their order.
            None => (Uuid::now_v7(), now_ms()),
            Some(at) => {
                let ms = at.max(0) as u64;
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    ms / 1000,
                    (ms % 1000) as u32 * 1_000_000,
                );
                (Uuid::new_v7(ts), at)
            }
        };
        let record = AuditRecord {
            id,
            actor_id: event.actor_id,
            action: event.action.to_string(),
            resource_type: event.resource_type.to_string(),
            resource_id: event.resource_id,
            details_json: crate::model::JsonText::from_value(&event.details),
            ip_address: event.ip_address,
            created_at: at,
        };
        let tables: [&dyn crate::store::TableRef; 4] = [
            &self.records,
            &self.by_actor,
            &self.by_action,
            &self.by_type,
        ];
        self.store
            .transaction(&tables, |tx| {
                tx.insert(&self.records, &record.id, &record)?;
                if let Some(actor) = record.actor_id {
                    tx.insert(&self.by_actor, &(actor, record.id), &())?;
                }
                tx.insert(
                    &self.by_action,
                    text_key(&record.action, record.id).as_slice(),
                    &(),
                )?;
                tx.insert(
                    &self.by_type,
                    text_key(&record.resource_type, record.id).as_slice(),
                    &(),
                )
            })
            .await?;
        self.count.fetch_add(1, Ordering::Relaxed);
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
