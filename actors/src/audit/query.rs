//! Listing the audit log: newest first, filtered by actor, action and
//! resource type, with the total of all matches.
//!
//! Cost: an unfiltered page reads `skip + limit` records and its total is a
//! counter. A filtered page walks the keys of ONE index (actor first, then
//! action, then resource type: the likeliest to be small first), checks any
//! other filter by a key lookup in its own index, and decodes only the
//! records of the page. So a filter costs in proportion to its matches,
//! never to the size of the log.

use std::sync::atomic::Ordering;

use uuid::Uuid;

use super::{Audit, text_key, text_prefix};
use crate::error::CoreError;
use crate::model::AuditRecord;

/// What a list keeps; `None` keeps everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Records whose actor is this user.
    pub actor_id: Option<Uuid>,
    /// Records of exactly this action, e.g. `user.role_changed`.
    pub action: Option<String>,
    /// Records of exactly this resource type, e.g. `user`.
    pub resource_type: Option<String>,
}

/// One page of records, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The records of the page.
    pub items: Vec<AuditRecord>,
    /// How many records match the filter in all.
    pub total: usize,
}

/// The record id at the end of an index key.
fn id_of(key: &[u8]) -> Option<Uuid> {
    let start = key.len().checked_sub(16)?;
    Uuid::from_slice(&key[start..]).ok()
}

impl Audit {
    /// The records matching `filter`, newest first, from `skip`, at most `limit`.
    pub fn list(
        &self,
        filter: &AuditFilter,
        skip: usize,
        limit: usize,
    ) -> Result<AuditPage, CoreError> {
        let keys: Box<dyn Iterator<Item = Result<Vec<u8>, _>>> =
            if let Some(actor) = filter.actor_id {
                Box::new(self.by_actor.keys_with_prefix(&actor).rev())
            } else if let Some(action) = &filter.action {
                Box::new(
                    self.by_action
                        .keys_with_prefix(text_prefix(action).as_slice())
                        .rev(),
                )
            } else if let Some(kind) = &filter.resource_type {
                Box::new(
                    self.by_type
                        .keys_with_prefix(text_prefix(kind).as_slice())
                        .rev(),
                )
            } else {
                return self.unfiltered(skip, limit);
            };
        let mut ids = Vec::new();
        let mut total = 0;
        for key in keys {
            let Some(id) = id_of(&key?) else { continue };
            if !self.also_matches(filter, id)? {
                continue;
            }
            if total >= skip && ids.len() < limit {
                ids.push(id);
            }
            total += 1;
        }
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.records.get(&id)? {
                items.push(record);
            }
        }
        Ok(AuditPage { items, total })
    }

    /// Whether record `id` passes the filters of `filter` past the first
    /// (the one whose index is walked), by key lookups only.
    fn also_matches(&self, filter: &AuditFilter, id: Uuid) -> Result<bool, CoreError> {
        if filter.actor_id.is_some()
            && let Some(action) = &filter.action
            && !self.by_action.contains(text_key(action, id).as_slice())?
        {
            return Ok(false);
        }
        if (filter.actor_id.is_some() || filter.action.is_some())
            && let Some(kind) = &filter.resource_type
            && !self.by_type.contains(text_key(kind, id).as_slice())?
        {
            return Ok(false);
        }
        Ok(true)
    }

    fn unfiltered(&self, skip: usize, limit: usize) -> Result<AuditPage, CoreError> {
        let items = self
            .records
            .iter()
            .rev()
            .skip(skip)
            .take(limit)
            .map(|r| r.map(|(_, v)| v).map_err(CoreError::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuditPage {
            items,
            total: self.count.load(Ordering::Relaxed) as usize,
        })
    }
}
