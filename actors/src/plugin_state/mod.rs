//! Plugin state (API.md 8): JSON objects client-side plugins keep per
//! user, plugin, page and key. A state past its `ttl_expires_at` is gone
//! for every read at once; the sweeper ([`PluginStates::sweep_until`])
//! deletes expired states of every user in the background, reading only
//! the expired part of an expiry index.

mod tables;

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{JsonText, PluginState, StateStrategy, now_ms};
use crate::settings::rules::check_page_id;
use tables::StateTables;

/// The largest `state_data`, serialized: 256 KiB.
pub const STATE_DATA_BYTES: usize = 256 * 1024;
/// The longest plugin id.
pub const PLUGIN_ID_CHARS: usize = 128;
/// The most items of one bulk create.
pub const BULK_ITEMS: usize = 100;
/// Expired states one sweep pass deletes at most (the next pass goes on).
const SWEEP_BATCH: usize = 1_000;

/// What a create (or a replace) carries.
#[derive(Debug, Clone)]
pub struct StateInput {
    /// The plugin: 1-128 of `A-Z a-z 0-9 . _ - : / @`.
    pub plugin_id: String,
    /// The page, if any: 1-255 characters, no control characters.
    pub page_id: Option<String>,
    /// The plugin's key, if any: as `page_id`.
    pub state_key: Option<String>,
    /// How the plugin means it to be kept.
    pub strategy: StateStrategy,
    /// A JSON object.
    pub state_data: Value,
    /// Unix ms after which it is gone; must be in the future.
    pub expires_at: Option<i64>,
}

/// The caller's states of one plugin that have not expired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginStats {
    /// The plugin.
    pub plugin_id: String,
    /// How many states.
    pub states: u64,
    /// Their `state_data`, serialized, in bytes.
    pub bytes: u64,
}

/// Every user's plugin states. Cheap to clone.
#[derive(Clone)]
pub struct PluginStates {
    tables: StateTables,
    /// States one user may keep.
    cap: u64,
}

fn check_plugin_id(id: &str) -> Result<(), CoreError> {
    let ok = !id.is_empty()
        && id.len() <= PLUGIN_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/@".contains(c));
    if !ok {
        return Err(CoreError::validation(
            "plugin_id",
            format!("1-{PLUGIN_ID_CHARS} of A-Z a-z 0-9 . _ - : / @"),
        ));
    }
    Ok(())
}

/// Checks `input` and makes it the state `id` of `user`.
fn build(user: Uuid, id: Uuid, input: StateInput, now: i64) -> Result<PluginState, CoreError> {
    check_plugin_id(&input.plugin_id)?;
    if let Some(page) = &input.page_id {
        check_page_id("page_id", page)?;
    }
    if let Some(key) = &input.state_key {
        check_page_id("state_key", key)?;
    }
    if !input.state_data.is_object() {
        return Err(CoreError::validation("state_data", "must be a JSON object"));
    }
    let data = JsonText::from_value(&input.state_data);
    if data.as_str().len() > STATE_DATA_BYTES {
        return Err(CoreError::TooLarge {
            field: "state_data".into(),
            limit: STATE_DATA_BYTES as u64,
        });
    }
    if input.expires_at.is_some_and(|t| t <= now) {
        return Err(CoreError::validation(
            "ttl_expires_at",
            "must be in the future",
        ));
    }
    Ok(PluginState {
        id,
        user_id: user,
        plugin_id: input.plugin_id,
        page_id: input.page_id,
        state_key: input.state_key,
        strategy: input.strategy,
        state_data: data,
        expires_at: input.expires_at,
        created_at: now,
        updated_at: now,
    })
}

fn duplicate() -> CoreError {
    CoreError::Conflict("a state for this plugin, page and key exists".into())
}

impl PluginStates {
    /// Opens the tables; `cap` bounds each user's states.
    pub fn open(store: crate::store::Store, cap: u64) -> Result<Self, CoreError> {
        Ok(Self {
            tables: StateTables::open(store)?,
            cap,
        })
    }

    /// Creates a state; 409 if the user has a live one for the same
    /// plugin, page and key, 413 for `state_data` over 256 KiB.
    pub async fn create(&self, user: Uuid, input: StateInput) -> Result<PluginState, CoreError> {
        let now = now_ms();
        let state = build(user, Uuid::now_v7(), input, now)?;
        let duplicates = self
            .tables
            .create(user, std::slice::from_ref(&state), self.cap, now)
            .await?;
        if !duplicates.is_empty() {
            return Err(duplicate());
        }
        Ok(state)
    }

    /// Creates every state of `inputs` (1-100) in one transaction, or none:
    /// if any fails, [`CoreError::Items`] lists each failure by index.
    pub async fn create_many(
        &self,
        user: Uuid,
        inputs: Vec<StateInput>,
    ) -> Result<Vec<PluginState>, CoreError> {
        if inputs.is_empty() || inputs.len() > BULK_ITEMS {
            return Err(crate::settings::rules::failed(
                "items",
                if inputs.is_empty() { "min" } else { "max" },
                Some(serde_json::json!(if inputs.is_empty() {
                    1
                } else {
                    BULK_ITEMS
                })),
                format!("1-{BULK_ITEMS} items"),
            ));
        }
        let now = now_ms();
        let mut states = Vec::with_capacity(inputs.len());
        let mut failures = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            match build(user, Uuid::now_v7(), input, now) {
                Ok(s) => states.push(s),
                Err(e) => failures.push((i, e)),
            }
        }
        if !failures.is_empty() {
            return Err(CoreError::Items { failures });
        }
        let duplicates = self.tables.create(user, &states, self.cap, now).await?;
        if !duplicates.is_empty() {
            let failures = duplicates.into_iter().map(|i| (i, duplicate())).collect();
            return Err(CoreError::Items { failures });
        }
        Ok(states)
    }

    /// The user's state `id` if it has not expired; else 404.
    pub fn get(&self, user: Uuid, id: Uuid) -> Result<PluginState, CoreError> {
        let now = now_ms();
        self.tables
            .get(id)?
            .filter(|s| s.user_id == user && !s.expired_at(now))
            .ok_or_else(|| CoreError::not_found("plugin state", id))
    }

    /// The user's live states (of `plugin_id`, on `page_id`, if given),
    /// newest first, and how many there are.
    pub fn page(
        &self,
        user: Uuid,
        plugin_id: Option<&str>,
        page_id: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<PluginState>, usize), CoreError> {
        if let Some(plugin) = plugin_id {
            check_plugin_id(plugin)?;
        }
        if let Some(page) = page_id {
            check_page_id("page_id", page)?;
        }
        let now = now_ms();
        let mut ids: Vec<Uuid> = self
            .tables
            .refs(user, plugin_id)?
            .into_iter()
            .filter(|(_, page, r)| !r.expired_at(now) && page_id.is_none_or(|p| p == page))
            .map(|(_, _, r)| r.id)
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let total = ids.len();
        let mut page = Vec::new();
        for id in ids.into_iter().skip(skip).take(limit) {
            if let Some(s) = self.tables.get(id)?.filter(|s| !s.expired_at(now)) {
                page.push(s);
            }
        }
        Ok((page, total))
    }

    /// Replaces state `id` with `input` (keeping its id and creation time);
    /// 409 if its new plugin, page and key are another live state's.
    pub async fn replace(
        &self,
        user: Uuid,
        id: Uuid,
        input: StateInput,
    ) -> Result<PluginState, CoreError> {
        let old = self.get(user, id)?;
        let now = now_ms();
        let mut new = build(user, id, input, now)?;
        new.created_at = old.created_at;
        if !self.tables.replace(&old, &new, now).await? {
            return Err(duplicate());
        }
        Ok(new)
    }

    /// Deletes the user's state `id` (404 if it is gone or expired).
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.get(user, id)?;
        if !self.tables.delete(user, id).await? {
            return Err(CoreError::not_found("plugin state", id));
        }
        Ok(())
    }

    /// Per plugin, the user's live states and their bytes, by plugin id.
    pub fn stats(&self, user: Uuid) -> Result<Vec<PluginStats>, CoreError> {
        let now = now_ms();
        let mut out: Vec<PluginStats> = Vec::new();
        for (plugin, _, r) in self.tables.refs(user, None)? {
            if r.expired_at(now) {
                continue;
            }
            // Refs come in key order, so one plugin's are together.
            match out.last_mut() {
                Some(last) if last.plugin_id == plugin => {
                    last.states += 1;
                    last.bytes += r.bytes;
                }
                _ => out.push(PluginStats {
                    plugin_id: plugin,
                    states: 1,
                    bytes: r.bytes,
                }),
            }
        }
        Ok(out)
    }

    /// Deletes the user's expired states; how many.
    pub async fn cleanup(&self, user: Uuid) -> Result<u64, CoreError> {
        self.tables.delete_expired_of(user, now_ms()).await
    }

    /// Deletes every user's expired states every `period` until `stop`.
    pub async fn sweep_until(self, period: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            loop {
                match self.tables.sweep(now_ms(), SWEEP_BATCH).await {
                    Ok(n) if n as usize >= SWEEP_BATCH => continue,
                    Ok(n) => {
                        if n > 0 {
                            tracing::debug!(deleted = n, "expired plugin states swept");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "plugin state sweep failed");
                        break;
                    }
                }
            }
        }
    }
}
