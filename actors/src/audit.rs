//! The audit log: who did what, stored in time order.

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{AuditRecord, now_ms};
use crate::store::{Store, Table};

/// Appends audit records. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    records: Table<Uuid, AuditRecord>,
}

/// One event to record.
pub struct AuditEvent<'a> {
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub details: serde_json::Value,
    pub ip_address: Option<String>,
}

impl Audit {
    pub fn open(store: Store) -> Result<Self, CoreError> {
        let records = store.table("audit_log")?;
        Ok(Self { store, records })
    }

    /// Stores `event` durably. Record ids are UUID v7, so the table is in time order.
    pub async fn record(&self, event: AuditEvent<'_>) -> Result<(), CoreError> {
        let record = AuditRecord {
            id: Uuid::now_v7(),
            actor_id: event.actor_id,
            action: event.action.to_string(),
            resource_type: event.resource_type.to_string(),
            resource_id: event.resource_id,
            details_json: event.details.to_string(),
            ip_address: event.ip_address,
            created_at: now_ms(),
        };
        self.records.insert(&record.id, &record)?;
        self.store.commit().await?;
        Ok(())
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
