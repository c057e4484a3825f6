//! Feature flags (API.md 10): admins define them, every request can ask
//! whether one is on for a user. Checks read an in-memory snapshot, never
//! the store: the flags load at start-up, and each change replaces the
//! snapshot only once its write is durable, so a check never sees a flag
//! that a crash could take back.

pub mod eval;
pub mod flag;
mod tables;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{Audit, AuditEvent};
use crate::changes::changed_fields;
use crate::error::CoreError;
use crate::model::{Role, now_ms};
pub use eval::{Reason, bucket, evaluate};
pub use flag::{FeatureFlag, FlagType, check_key};
use tables::FlagTables;

/// Flags by key, shared by every reader until a change replaces it whole.
type Snapshot = Arc<BTreeMap<String, Arc<FeatureFlag>>>;

/// Who changes a flag, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The admin's user id.
    pub user_id: Uuid,
    /// The client address of the request, when the edge knows it.
    pub ip: Option<String>,
}

/// Feature flags. Cheap to clone.
#[derive(Clone)]
pub struct FeatureFlags {
    tables: FlagTables,
    /// What checks read. The lock is held only to clone or swap the `Arc`.
    snapshot: Arc<RwLock<Snapshot>>,
    /// One change at a time, so snapshots follow the order of durable writes
    /// and a duplicate key is caught before it is written.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Every create, update and delete is recorded here.
    audit: Audit,
}

/// A flag as the audit log's details show it.
fn details(f: &FeatureFlag) -> Value {
    let roles: Vec<&str> = f.roles.iter().map(|r| r.as_str()).collect();
    json!({
        "key": f.key, "name": f.name, "description": f.description,
        "flag_type": f.flag_type.as_str(), "is_enabled": f.is_enabled,
        "percentage": f.percentage, "user_ids": f.user_ids, "roles": roles,
    })
}

impl FeatureFlags {
    /// Opens the flags' table and loads every flag into the snapshot.
    pub fn open(store: crate::store::Store, audit: Audit) -> Result<Self, CoreError> {
        let tables = FlagTables::open(store)?;
        let loaded: BTreeMap<String, Arc<FeatureFlag>> = tables
            .all()?
            .into_iter()
            .map(|f| (f.key.clone(), Arc::new(f)))
            .collect();
        Ok(Self {
            tables,
            snapshot: Arc::new(RwLock::new(Arc::new(loaded))),
            writer: Arc::default(),
            audit,
        })
    }

    /// The current snapshot.
    fn snapshot(&self) -> Snapshot {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot with `change` applied to a copy of it.
    fn publish(&self, change: impl FnOnce(&mut BTreeMap<String, Arc<FeatureFlag>>)) {
        let mut next = (*self.snapshot()).clone();
        change(&mut next);
        let next = Arc::new(next);
        match self.snapshot.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// Flag `key`, or 404.
    pub fn get(&self, key: &str) -> Result<Arc<FeatureFlag>, CoreError> {
        self.snapshot()
            .get(key)
            .cloned()
            .ok_or_else(|| CoreError::not_found("feature flag", key))
    }

    /// Flags `skip..skip + limit` in key order, and how many there are.
    pub fn page(&self, skip: usize, limit: usize) -> (Vec<Arc<FeatureFlag>>, usize) {
        let snap = self.snapshot();
        let items = snap.values().skip(skip).take(limit).cloned().collect();
        (items, snap.len())
    }

    /// Creates `flag` (its times are set here); 409 if the key is taken,
    /// 422 naming the field at fault.
    pub async fn create(
        &self,
        actor: &Actor,
        mut flag: FeatureFlag,
    ) -> Result<Arc<FeatureFlag>, CoreError> {
        flag.check()?;
        flag.dedup();
        let _one_writer = self.writer.lock().await;
        if self.snapshot().contains_key(&flag.key) {
            return Err(CoreError::Conflict(
                "a feature flag with this key exists".into(),
            ));
        }
        let now = now_ms();
        (flag.created_at, flag.updated_at) = (now, now);
        self.tables.put(&flag).await?;
        let flag = Arc::new(flag);
        self.publish(|m| {
            m.insert(flag.key.clone(), flag.clone());
        });
        self.record(actor, "feature_flag.created", &flag.key, details(&flag))
            .await;
        Ok(flag)
    }

    /// Applies `change` to flag `key` (404 if there is none) and stores the
    /// result if it passes the checks. The key and creation time stay.
    pub async fn update(
        &self,
        actor: &Actor,
        key: &str,
        change: impl FnOnce(&mut FeatureFlag),
    ) -> Result<Arc<FeatureFlag>, CoreError> {
        let _one_writer = self.writer.lock().await;
        let old = self.get(key)?;
        let mut flag = (*old).clone();
        change(&mut flag);
        (flag.key, flag.created_at) = (old.key.clone(), old.created_at);
        flag.check()?;
        flag.dedup();
        flag.updated_at = now_ms().max(old.updated_at);
        self.tables.put(&flag).await?;
        let flag = Arc::new(flag);
        self.publish(|m| {
            m.insert(flag.key.clone(), flag.clone());
        });
        let changed = json!({ "changes": changed_fields(&details(&old), &details(&flag)) });
        self.record(actor, "feature_flag.updated", key, changed)
            .await;
        Ok(flag)
    }

    /// Deletes flag `key`; 404 if there is none.
    pub async fn delete(&self, actor: &Actor, key: &str) -> Result<(), CoreError> {
        let _one_writer = self.writer.lock().await;
        let old = self.get(key)?;
        self.tables.remove(key).await?;
        self.publish(|m| {
            m.remove(key);
        });
        self.record(actor, "feature_flag.deleted", key, details(&old))
            .await;
        Ok(())
    }

    /// Whether flag `key` is on for the user, and why; 404 for an unknown flag.
    pub fn check(&self, key: &str, user_id: Uuid, role: Role) -> Result<(bool, Reason), CoreError> {
        Ok(evaluate(&*self.get(key)?, user_id, role))
    }

    /// Every flag evaluated for the user, in key order.
    pub fn evaluate_all(&self, user_id: Uuid, role: Role) -> Vec<(String, bool, Reason)> {
        self.snapshot()
            .values()
            .map(|f| {
                let (on, why) = evaluate(f, user_id, role);
                (f.key.clone(), on, why)
            })
            .collect()
    }

    /// Records a change that is already durable: a failed audit write is
    /// logged and counted, and does not undo or fail the change.
    async fn record(&self, actor: &Actor, action: &str, key: &str, details: Value) {
        self.audit
            .record_or_log(AuditEvent {
                actor_id: Some(actor.user_id),
                action,
                resource_type: "feature_flag",
                resource_id: Some(key.to_string()),
                details,
                ip_address: actor.ip.clone(),
            })
            .await;
    }
}

#[cfg(test)]
mod tests;
