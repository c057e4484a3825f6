//! Usage accounting: tokens and requests per user and calendar month (UTC).

use std::time::Instant;

use chrono::{Datelike, TimeZone, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;
use crate::llm::TokenUsage;
use crate::model::User;
use crate::store::{KeyLocks, Store, StoreKey, Table};

/// What kind of model call a query log records (API.md 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A chat in a conversation (HTTP or WebSocket).
    Chat,
    /// A stateless completion (`/ai/completions`, `/ai/process`).
    Completion,
    /// A ticket chat, run as a job.
    Job,
    /// The OpenAI-compatible surface (`/v1`).
    Openai,
}

impl CallKind {
    /// The name in a query log's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Chat => "chat",
            CallKind::Completion => "completion",
            CallKind::Job => "job",
            CallKind::Openai => "openai",
        }
    }
}

mod pending;
mod prices;
mod reservation;
mod stats;

pub use pending::FLUSH_EVERY;
pub use prices::{ModelPrice, Prices};
pub use reservation::{AllowanceUsed, AllowanceWatch, Reservation};
pub use stats::{UsageMetric, UsageTotals};

/// One user's totals for one month.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MonthlyUsage {
    /// AI calls made, whatever their outcome.
    pub ai_requests: u64,
    /// Prompt tokens over those calls.
    pub prompt_tokens: u64,
    /// Answer tokens over those calls.
    pub completion_tokens: u64,
    /// Cost in millionths of a US dollar.
    pub cost_micro_usd: u64,
}

impl MonthlyUsage {
    /// Prompt and answer tokens: what the monthly allowance is measured against.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Adds `more`'s figures to these.
    fn absorb(&mut self, more: &MonthlyUsage) {
        self.ai_requests += more.ai_requests;
        self.prompt_tokens += more.prompt_tokens;
        self.completion_tokens += more.completion_tokens;
        self.cost_micro_usd += more.cost_micro_usd;
    }
}

/// The usage summary of API.md 2.3.
#[derive(Debug, Clone)]
pub struct UsageSummary {
    /// First millisecond of the month, and of the next month.
    pub period_start_ms: i64,
    /// First millisecond (Unix ms) of the next month: the period's exclusive end.
    pub period_end_ms: i64,
    /// The user's totals so far in the period.
    pub usage: MonthlyUsage,
    /// The user's tokens per month; `None` = unlimited.
    pub monthly_token_allowance: Option<u64>,
    /// Allowance minus tokens used, negative once overspent; `None` = unlimited.
    pub tokens_remaining: Option<i64>,
}

/// One AI call, as `/query-logs` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryLog {
    /// Primary key (a v7 UUID), so a user's log sorts by time.
    pub id: Uuid,
    /// Unix ms when the call ended and was recorded.
    pub created_at: i64,
    /// `chat`, `completion`, `job` or `openai`.
    pub kind: String,
    /// The provider that answered (a fallback's name if one took over).
    pub provider: String,
    /// The model's label: its name if the provider lists it, else `other`.
    pub model: String,
    /// At most 200 characters of the input.
    pub input_preview: String,
    /// Prompt tokens, as the provider reported them or estimated in words.
    pub prompt_tokens: u64,
    /// Answer tokens, as the provider reported them or estimated in words.
    pub completion_tokens: u64,
    /// Milliseconds from the start of the call to its end.
    pub latency_ms: u64,
    /// `complete`, `cancelled` or `failed`.
    pub status: String,
}

/// What to record about one AI call.
pub struct UsageEntry {
    log: QueryLog,
}

impl UsageEntry {
    /// The record of one call of `kind` begun at `started`; keeps 200 characters of `input`.
    pub fn new(
        kind: CallKind,
        provider: &str,
        model: &str,
        usage: TokenUsage,
        started: Instant,
        status: &str,
        input: &str,
    ) -> Self {
        Self {
            log: QueryLog {
                id: Uuid::now_v7(),
                created_at: crate::model::now_ms(),
                kind: kind.as_str().to_string(),
                provider: provider.to_string(),
                model: model.to_string(),
                input_preview: input.chars().take(200).collect(),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                latency_ms: started.elapsed().as_millis() as u64,
                status: status.to_string(),
            },
        }
    }
}

/// Token accounting: reserves quota before an AI call and records what it used. Cheap to clone.
#[derive(Clone)]
pub struct Usage {
    /// Serializes one user's counter updates and reservations, so a check
    /// of what is left and the hold that follows are one step.
    locks: std::sync::Arc<KeyLocks>,
    /// Tokens held by each user's calls in flight (see [`Reservation`]):
    /// counted as spent until each call settles to its real usage.
    reserved: std::sync::Arc<DashMap<Uuid, u64>>,
    monthly: Table<(Uuid, u32), MonthlyUsage>,
    /// (user, yyyymmdd) -> total tokens.
    daily: Table<(Uuid, u32), u64>,
    /// (user, yyyymm, model) -> total tokens.
    by_model: Table<(Uuid, u32, String), u64>,
    /// (user, log id v7): a user's calls in time order.
    logs: Table<(Uuid, Uuid), QueryLog>,
    /// What each provider's models cost; what a call costs is added to its totals.
    prices: std::sync::Arc<Prices>,
    /// Totals per day and per model, and each month's users (the admin routes).
    stats: stats::UsageStats,
    /// Told how much of their allowance a user has used after each call
    /// (the 80% and 100% notices; set by `Core`).
    allowance_watch: std::sync::Arc<std::sync::OnceLock<AllowanceWatch>>,
    /// Calls settled but not yet written to the tables (`pending.rs`).
    pending: pending::Pending,
}

/// `yyyymmdd` of the day containing `ms` (UTC).
pub fn day_of(ms: i64) -> u32 {
    let t = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now);
    t.year() as u32 * 10_000 + t.month() * 100 + t.day()
}

/// `yyyymm` of the month containing `ms`, and that month's bounds.
pub fn month_of(ms: i64) -> (u32, i64, i64) {
    let t = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now);
    let (y, m) = (t.year(), t.month());
    let start = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single();
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).single();
    let ms_of = |d: Option<chrono::DateTime<Utc>>| d.map(|d| d.timestamp_millis()).unwrap_or(ms);
    (y as u32 * 100 + m, ms_of(start), ms_of(end))
}

impl Usage {
    /// Opens the usage tables (month, day, model, query log) in `store`.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        Ok(Self {
            monthly: store.table("usage_monthly")?,
            daily: store.table("usage_daily")?,
            by_model: store.table("usage_by_model")?,
            logs: store.table("query_logs")?,
            stats: stats::UsageStats::open(&store)?,
            prices: Default::default(),
            locks: Default::default(),
            reserved: Default::default(),
            allowance_watch: Default::default(),
            pending: Default::default(),
        })
    }

    /// This handle pricing calls with `prices` (`[providers.<name>.prices]`).
    pub fn with_prices(mut self, prices: Prices) -> Self {
        self.prices = std::sync::Arc::new(prices);
        self
    }

    /// Sets what is told of each settled call of a user with an allowance
    /// (once; a second call is ignored).
    pub fn watch_allowance(&self, watch: AllowanceWatch) {
        let _ = self.allowance_watch.set(watch);
    }

    /// Adds one call to the user's month, day, model and query log, and to
    /// the metrics. Usage never fails a chat. Nothing here touches the
    /// store: the call waits in memory (`pending.rs`) until the next flush,
    /// at most [`FLUSH_EVERY`] later, and is durable with the store's next
    /// commit after that. A crash can lose the calls of that window.
    pub async fn record(&self, user_id: Uuid, entry: UsageEntry) {
        self.settle(user_id, entry, 0);
    }

    /// [`Usage::record`], releasing `held` reserved tokens under the same
    /// lock: the call's tokens move from held to spent with no moment in
    /// between in which another call of the user could take them.
    fn settle(&self, user_id: Uuid, entry: UsageEntry, held: u64) {
        let log = entry.log;
        let (month, _, _) = month_of(log.created_at);
        let day = day_of(log.created_at);
        let labels = [
            ("provider", log.provider.clone()),
            ("model", log.model.clone()),
        ];
        metrics::counter!("chorus_llm_requests_total", "provider" => log.provider.clone(), "model" => log.model.clone(), "outcome" => log.status.clone()).increment(1);
        metrics::counter!(
            "chorus_llm_tokens_total",
            &[
                labels[0].clone(),
                labels[1].clone(),
                ("direction", "input".to_string())
            ]
        )
        .increment(log.prompt_tokens);
        metrics::counter!(
            "chorus_llm_tokens_total",
            &[
                labels[0].clone(),
                labels[1].clone(),
                ("direction", "output".to_string())
            ]
        )
        .increment(log.completion_tokens);
        self.add(user_id, (month, day), log, held);
    }

    /// Moves one call's `held` tokens from held to waiting, under the
    /// user's stripe lock (see `KeyLocks`), with its cost from the price
    /// table. Wakes the flusher when the batch is full; after
    /// [`Usage::close`], writes it at once.
    fn add(&self, user_id: Uuid, (month, day): (u32, u32), log: QueryLog, held: u64) {
        let _guard = self.locks.lock(&user_id);
        let cost = (self.prices).cost_micro_usd(
            &log.provider,
            &log.model,
            log.prompt_tokens,
            log.completion_tokens,
        );
        let mut batch = self.pending.lock();
        batch.add(user_id, (month, day), log, cost);
        self.release_locked(user_id, held);
        if batch.is_full() {
            self.pending.wake();
        }
        drop(batch);
        if self.pending.is_closed() {
            self.flush();
        }
    }

    /// Tokens left this month; `None` = unlimited.
    pub fn tokens_remaining(&self, user: &User) -> Result<Option<i64>, CoreError> {
        Ok(self.summary(user, crate::model::now_ms())?.tokens_remaining)
    }

    /// Total tokens per day for the last `days` days, oldest first.
    pub fn daily(
        &self,
        user_id: Uuid,
        days: u32,
        now_ms: i64,
    ) -> Result<Vec<(u32, u64)>, CoreError> {
        self.flush();
        let mut out = Vec::with_capacity(days as usize);
        for back in (0..days as i64).rev() {
            let day = day_of(now_ms - back * 86_400_000);
            out.push((day, self.daily.get(&(user_id, day))?.unwrap_or(0)));
        }
        Ok(out)
    }

    /// Tokens per model this month.
    pub fn by_model(&self, user_id: Uuid, now_ms: i64) -> Result<Vec<(String, u64)>, CoreError> {
        self.flush();
        let (month, _, _) = month_of(now_ms);
        let prefix = (user_id, month).to_key();
        self.by_model
            .scan_prefix(prefix.as_slice())
            .map(|item| {
                let (key, tokens) = item?;
                let model = String::from_utf8_lossy(key.get(prefix.len()..).unwrap_or_default())
                    .into_owned();
                Ok((model, tokens))
            })
            .collect()
    }

    /// The user's newest calls, at most `limit`.
    pub fn query_logs(&self, user_id: Uuid, limit: usize) -> Result<Vec<QueryLog>, CoreError> {
        self.flush();
        self.logs
            .scan_prefix(&user_id)
            .rev()
            .take(limit)
            .map(|r| r.map(|(_, l)| l).map_err(CoreError::from))
            .collect()
    }

    /// `user`'s usage in the month containing `now_ms`, against their allowance.
    pub fn summary(&self, user: &User, now_ms: i64) -> Result<UsageSummary, CoreError> {
        let (month, start, end) = month_of(now_ms);
        let usage = self.month_total(user.id, month)?;
        let remaining = user
            .monthly_token_allowance
            .map(|a| a as i64 - usage.total_tokens() as i64);
        Ok(UsageSummary {
            period_start_ms: start,
            period_end_ms: end,
            usage,
            monthly_token_allowance: user.monthly_token_allowance,
            tokens_remaining: remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_calendar_months_in_utc() {
        let ms = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp_millis();
        let (month, start, end) = month_of(ms);
        assert_eq!(month, 202612);
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
    }
}
