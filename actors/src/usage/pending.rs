//! Usage not yet in the store. A settled call adds its figures here, in
//! memory; a flusher writes the sums per key to the tables every
//! [`FLUSH_EVERY`], sooner once [`WAKE_AT`] calls are waiting, before any
//! read of the tables, and at shutdown. So settling a call costs a few map
//! updates instead of six reads and seven writes in sled on the request
//! path, and a burst of one user's calls writes each counter once.
//!
//! The quota check reads a month's total as the stored one plus what is
//! waiting, under the same lock the flush holds while it writes, so it
//! never sees a call twice or not at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::stats::{UsageTotals, add_call};
use super::{MonthlyUsage, QueryLog, Usage};
use crate::error::CoreError;

/// How long a settled call may wait in memory before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Calls waiting that wake the flusher before its next tick.
const WAKE_AT: usize = 1024;

/// The calls settled since the last flush, summed per key.
#[derive(Default)]
pub(super) struct Batch {
    /// (user, yyyymm) -> the month's figures.
    monthly: HashMap<(Uuid, u32), MonthlyUsage>,
    /// (user, yyyymmdd) -> the day's figures.
    days: HashMap<(Uuid, u32), UsageTotals>,
    /// (user, yyyymm, model) -> the model's figures that month.
    models: HashMap<(Uuid, u32, String), UsageTotals>,
    /// Each call's query log, with its user.
    logs: Vec<(Uuid, QueryLog)>,
}

impl Batch {
    /// Adds one call of `user_id` costing `cost` micro-dollars.
    pub(super) fn add(
        &mut self,
        user_id: Uuid,
        (month, day): (u32, u32),
        log: QueryLog,
        cost: u64,
    ) {
        add_call(
            self.monthly.entry((user_id, month)).or_default(),
            &log,
            cost,
        );
        add_call(self.days.entry((user_id, day)).or_default(), &log, cost);
        let model = (user_id, month, log.model.clone());
        add_call(self.models.entry(model).or_default(), &log, cost);
        self.logs.push((user_id, log));
    }

    /// Whether enough calls wait that the flusher should not wait for its tick.
    pub(super) fn is_full(&self) -> bool {
        self.logs.len() >= WAKE_AT
    }
}

/// The shared batch and the flusher's wake-up. Cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Pending {
    batch: Arc<Mutex<Batch>>,
    wake: Arc<tokio::sync::Notify>,
    /// Set by [`Usage::close`]: from then on each call is written at once.
    closed: Arc<AtomicBool>,
}

impl Pending {
    /// The batch, locked. A panic while it was held leaves sums that are
    /// still sums: the lock is taken back.
    pub(super) fn lock(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the flusher to write now rather than at its next tick.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether [`Usage::close`] has run.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Usage {
    /// `user_id`'s figures for `month`: stored plus waiting.
    pub(super) fn month_total(&self, user_id: Uuid, month: u32) -> Result<MonthlyUsage, CoreError> {
        let batch = self.pending.lock();
        let mut total = self.monthly.get(&(user_id, month))?.unwrap_or_default();
        if let Some(waiting) = batch.monthly.get(&(user_id, month)) {
            total.absorb(waiting);
        }
        Ok(total)
    }

    /// Writes every call waiting, and from now on each call as it settles:
    /// for shutdown, where a call still running (a detached stateless
    /// generation) may settle after the flusher has stopped.
    pub fn close(&self) {
        self.pending.closed.store(true, Ordering::Release);
        self.flush();
    }

    /// Writes every call waiting to the tables. The batch stays locked
    /// until it is written, so a quota check sees each call exactly once.
    /// A failed write is logged and the rest of the batch still written:
    /// these are counters nobody was told are durable.
    pub fn flush(&self) {
        let mut batch = self.pending.lock();
        if batch.logs.is_empty() {
            return;
        }
        let taken = std::mem::take(&mut *batch);
        if let Err(e) = self.write(taken) {
            tracing::error!(error = %e, "usage not recorded");
        }
    }

    /// Writes one batch: months (a user's first of the month also into the
    /// month's users), the admins' day and model totals with the user's day
    /// and model token counts, and the query logs.
    fn write(&self, batch: Batch) -> Result<(), CoreError> {
        let mut first_error = None;
        let mut keep = |r: Result<(), CoreError>| {
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        };
        for ((user_id, month), waiting) in batch.monthly {
            keep(self.write_month(user_id, month, &waiting));
        }
        for (key, waiting) in batch.days {
            keep(self.stats.add_day(key, &waiting));
            keep(add_count(&self.daily, &key, waiting.total_tokens()));
        }
        for (key, waiting) in batch.models {
            keep(self.stats.add_model(&key, &waiting));
            keep(add_count(&self.by_model, &key, waiting.total_tokens()));
        }
        for (user_id, log) in batch.logs {
            keep(
                self.logs
                    .insert(&(user_id, log.id), &log)
                    .map_err(Into::into),
            );
        }
        first_error.map_or(Ok(()), Err)
    }

    fn write_month(
        &self,
        user_id: Uuid,
        month: u32,
        waiting: &MonthlyUsage,
    ) -> Result<(), CoreError> {
        let stored = self.monthly.get(&(user_id, month))?;
        if stored.is_none() {
            self.stats.add_month_user(month, user_id)?;
        }
        let mut total = stored.unwrap_or_default();
        total.absorb(waiting);
        Ok(self.monthly.insert(&(user_id, month), &total)?)
    }

    /// Flushes every [`FLUSH_EVERY`], or when woken, until `stop`; then
    /// once more.
    pub async fn flush_until(self, stop: CancellationToken) {
        let mut pace = crate::background::Pace::new(FLUSH_EVERY, &self.pending.wake, &stop);
        while pace.next().await {
            self.flush();
        }
        self.flush();
    }
}

/// Adds `tokens` to the count stored under `key`.
fn add_count<K: crate::store::StoreKey>(
    table: &crate::store::Table<K, u64>,
    key: &K,
    tokens: u64,
) -> Result<(), CoreError> {
    let stored = table.get(key)?.unwrap_or(0);
    Ok(table.insert(key, &(stored + tokens))?)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::llm::TokenUsage;
    use crate::usage::{CallKind, UsageEntry, month_of};

    fn call(tokens: u64) -> UsageEntry {
        let usage = TokenUsage {
            prompt_tokens: 1,
            completion_tokens: tokens,
        };
        UsageEntry::new(
            CallKind::Openai,
            "echo",
            "echo-1",
            usage,
            Instant::now(),
            "complete",
            "hi",
        )
    }

    #[tokio::test]
    async fn settled_calls_wait_in_memory_count_at_once_and_are_written_by_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Relaxed);
        let usage = Usage::open(store).unwrap();
        let user = Uuid::now_v7();
        let (month, _, _) = month_of(crate::model::now_ms());
        for _ in 0..3 {
            usage.record(user, call(9)).await;
        }
        assert!(
            usage.monthly.get(&(user, month)).unwrap().is_none(),
            "not written yet"
        );
        let counted = usage.month_total(user, month).unwrap();
        assert_eq!((counted.ai_requests, counted.total_tokens()), (3, 30));

        // A read of the tables flushes first.
        assert_eq!(usage.query_logs(user, 10).unwrap().len(), 3);
        assert!(usage.pending.lock().logs.is_empty());
        let stored = usage.monthly.get(&(user, month)).unwrap().unwrap();
        assert_eq!((stored.ai_requests, stored.total_tokens()), (3, 30));
        assert_eq!(
            usage.month_total(user, month).unwrap().total_tokens(),
            30,
            "counted once"
        );
        let days = usage.days(user, 1, crate::model::now_ms()).unwrap();
        assert_eq!(days[0].1.ai_requests, 3);
        let models = usage.by_model(user, crate::model::now_ms()).unwrap();
        assert_eq!(models, vec![("echo-1".to_string(), 30)]);
        let top = usage.top_users(
            crate::usage::UsageMetric::Requests,
            5,
            crate::model::now_ms(),
        );
        let top = top.unwrap();
        assert_eq!(top.len(), 1, "the month's users come from the flush too");
        assert_eq!((top[0].0, top[0].1.ai_requests), (user, 3));

        // After close (shutdown), a call that settles late is written at once.
        usage.close();
        usage.record(user, call(9)).await;
        assert!(usage.pending.lock().logs.is_empty(), "written, not waiting");
        let stored = usage.monthly.get(&(user, month)).unwrap().unwrap();
        assert_eq!(stored.ai_requests, 4);
    }
}
