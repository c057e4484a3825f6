//! The store of received webhook events: the one file that touches their
//! tables. A new event is written in one transaction with its
//! `(source, event id)` uniqueness entry, so a replay can never be stored
//! twice, and with its entry in the pending index, which start-up reads to
//! queue the processing of events a crash left unqueued.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{JsonText, now_ms};
use crate::per_user::id_at;
use crate::store::{Store, StoreError, Table, Tx};

/// Where a received event is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboundStatus {
    /// Stored; its `webhook.received` job has not finished yet.
    Received,
    /// The hook handled it.
    Processed,
    /// The hook's last attempt failed (`error` says why); retried while the
    /// job has attempts left.
    Failed,
    /// Its type is outside the source's `events` allow-list: stored, not processed.
    Ignored,
}

impl InboundStatus {
    /// The API's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundStatus::Received => "received",
            InboundStatus::Processed => "processed",
            InboundStatus::Failed => "failed",
            InboundStatus::Ignored => "ignored",
        }
    }
}

/// One received, verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// Our id (UUID v7), answered to the sender.
    pub id: Uuid,
    /// The configured source it came in through (`webhooks.sources.<name>`).
    pub source: String,
    /// The sender's id of the event (the body's `id`), unique per source.
    pub event_id: String,
    /// The body's `type`, if it has a string one.
    pub event_type: Option<String>,
    /// Where its processing is.
    pub status: InboundStatus,
    /// When it was stored (Unix ms).
    pub received_at: i64,
    /// When the hook last finished with it (Unix ms).
    pub processed_at: Option<i64>,
    /// Why the hook's last attempt failed.
    pub error: Option<String>,
    /// The body, as received (a JSON object).
    pub payload: JsonText,
}

/// The tables of received events. Cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    store: Store,
    /// Event id (v7) -> the event: every event, oldest first.
    events: Table<Uuid, InboundEvent>,
    /// `"{source}/{event id}"` -> our id: the replay check. Source names
    /// hold no `/`, so the key is unambiguous.
    ids: Table<String, Uuid>,
    /// (`"{source}/"`, event id) -> (): one source's events, oldest first.
    by_source: Table<(String, Uuid), ()>,
    /// Events still `received`: what start-up queues again.
    pending: Table<Uuid, ()>,
}

fn source_prefix(source: &str) -> String {
    format!("{source}/")
}

impl EventStore {
    /// Opens the tables in `store`.
    pub fn open(store: Store) -> Result<Self, StoreError> {
        Ok(Self {
            events: store.table("inbound_events")?,
            ids: store.table("inbound_event_ids")?,
            by_source: store.table("inbound_by_source")?,
            pending: store.table("inbound_pending")?,
            store,
        })
    }

    /// Stores a new event durably; `Conflict` if its source already has an
    /// event with this `event_id`. `pending` says whether it waits for processing.
    pub async fn insert(&self, event: &InboundEvent, pending: bool) -> Result<(), CoreError> {
        let unique = format!("{}/{}", event.source, event.event_id);
        let indexed = (source_prefix(&event.source), event.id);
        self.store
            .transaction(
                &[&self.events, &self.ids, &self.by_source, &self.pending],
                |tx| {
                    if tx.get(&self.ids, &unique)?.is_some() {
                        return Tx::abort(StoreError::Conflict(format!(
                            "event {:?} of source {:?} was already received",
                            event.event_id, event.source
                        )));
                    }
                    tx.insert(&self.ids, &unique, &event.id)?;
                    tx.insert(&self.events, &event.id, event)?;
                    tx.insert(&self.by_source, &indexed, &())?;
                    if pending {
                        tx.insert(&self.pending, &event.id, &())?;
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(())
    }

    /// The event `id`, if stored.
    pub fn get(&self, id: Uuid) -> Result<Option<InboundEvent>, CoreError> {
        Ok(self.events.get(&id)?)
    }

    /// Records how the hook's attempt ended: `processed` (error cleared) or
    /// `failed` with the reason; either way it is no longer pending.
    pub async fn record_outcome(
        &self,
        id: Uuid,
        outcome: &Result<(), String>,
    ) -> Result<InboundEvent, CoreError> {
        let at = now_ms();
        let updated = self
            .store
            .transaction(&[&self.events, &self.pending], |tx| {
                let Some(mut event) = tx.get(&self.events, &id)? else {
                    return Tx::abort(StoreError::Conflict("the event is gone".into()));
                };
                (event.status, event.error) = match outcome {
                    Ok(()) => (InboundStatus::Processed, None),
                    Err(reason) => (InboundStatus::Failed, Some(reason.clone())),
                };
                event.processed_at = Some(at);
                tx.insert(&self.events, &id, &event)?;
                tx.remove(&self.pending, &id)?;
                Ok(event)
            })
            .await?;
        Ok(updated)
    }

    /// Events still waiting for their job, oldest first.
    pub fn pending(&self) -> Result<Vec<Uuid>, CoreError> {
        self.pending
            .keys_with_prefix("")
            .map(|key| id_at(&key?, 0))
            .collect()
    }

    /// A page of events (of one source, or all), newest first, and how many
    /// there are. Reads keys only, then the page's records.
    pub fn page(
        &self,
        source: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<InboundEvent>, usize), CoreError> {
        let (keys, at): (Box<dyn Iterator<Item = _>>, usize) = match source {
            Some(source) => {
                let prefix = source_prefix(source);
                let at = prefix.len();
                (Box::new(self.by_source.keys_with_prefix(&prefix).rev()), at)
            }
            None => (Box::new(self.events.keys_with_prefix("").rev()), 0),
        };
        let mut ids = Vec::with_capacity(limit.min(100));
        let mut total = 0;
        for key in keys {
            let key = key?;
            if total >= skip && ids.len() < limit {
                ids.push(id_at(&key, at)?);
            }
            total += 1;
        }
        let mut page = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(event) = self.events.get(&id)? {
                page.push(event);
            }
        }
        Ok((page, total))
    }
}
