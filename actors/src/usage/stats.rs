//! The admins' view of usage (API.md 10): requests, tokens and cost per
//! user and day and per user, month and model, and the users who used
//! anything in a month, so the month's top users read only those users.
//!
//! Tables, written with each flush of the calls waiting (`pending.rs`):
//! - `usage_daily_totals`: (user, yyyymmdd) -> totals;
//! - `usage_model_totals`: (user, yyyymm, model) -> totals;
//! - `usage_month_users`: (yyyymm, user) -> 1, written with a user's first
//!   call of the month.
//!
//! Calls recorded before these tables existed are in the month's totals
//! (`usage_monthly`) only.

use uuid::Uuid;

use super::{MonthlyUsage, QueryLog, Usage, day_of, month_of};
use crate::error::CoreError;
use crate::store::{Store, StoreKey, Table};

/// A user's totals over some period: the same four figures as a month's.
pub type UsageTotals = MonthlyUsage;

/// The figure the top users are ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageMetric {
    /// Prompt plus completion tokens.
    TotalTokens,
    /// AI calls.
    Requests,
    /// Cost in dollars.
    CostUsd,
}

impl UsageMetric {
    /// The metric named `name` (`total_tokens`, `requests`, `cost_usd`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "total_tokens" => Some(Self::TotalTokens),
            "requests" => Some(Self::Requests),
            "cost_usd" => Some(Self::CostUsd),
            _ => None,
        }
    }

    /// The figure of `t` this metric ranks by.
    pub fn of(self, t: &UsageTotals) -> u64 {
        match self {
            Self::TotalTokens => t.total_tokens(),
            Self::Requests => t.ai_requests,
            Self::CostUsd => t.cost_micro_usd,
        }
    }
}

/// The stats' tables. Cheap to clone.
#[derive(Clone)]
pub(super) struct UsageStats {
    days: Table<(Uuid, u32), UsageTotals>,
    models: Table<(Uuid, u32, String), UsageTotals>,
    month_users: Table<(u32, Uuid), u8>,
}

pub(super) fn add_call(t: &mut UsageTotals, log: &QueryLog, cost: u64) {
    t.ai_requests += 1;
    t.prompt_tokens += log.prompt_tokens;
    t.completion_tokens += log.completion_tokens;
    t.cost_micro_usd += cost;
}

impl UsageStats {
    pub(super) fn open(store: &Store) -> Result<Self, CoreError> {
        Ok(Self {
            days: store.table("usage_daily_totals")?,
            models: store.table("usage_model_totals")?,
            month_users: store.table("usage_month_users")?,
        })
    }

    /// Adds `waiting` to the admins' totals of (user, yyyymmdd) `key`.
    pub(super) fn add_day(&self, key: (Uuid, u32), waiting: &UsageTotals) -> Result<(), CoreError> {
        let mut d = self.days.get(&key)?.unwrap_or_default();
        d.absorb(waiting);
        Ok(self.days.insert(&key, &d)?)
    }

    /// Adds `waiting` to the admins' totals of (user, yyyymm, model) `key`.
    pub(super) fn add_model(
        &self,
        key: &(Uuid, u32, String),
        waiting: &UsageTotals,
    ) -> Result<(), CoreError> {
        let mut m = self.models.get(key)?.unwrap_or_default();
        m.absorb(waiting);
        Ok(self.models.insert(key, &m)?)
    }

    /// Notes that `user_id` used something in `month`.
    pub(super) fn add_month_user(&self, month: u32, user_id: Uuid) -> Result<(), CoreError> {
        Ok(self.month_users.insert(&(month, user_id), &1)?)
    }
}

impl Usage {
    /// Every month the user has used anything in, newest first.
    pub fn months(&self, user_id: Uuid) -> Result<Vec<(u32, UsageTotals)>, CoreError> {
        self.flush();
        let prefix = user_id.to_key();
        let mut out = Vec::new();
        for item in self.monthly.scan_prefix(&user_id) {
            let (key, totals) = item?;
            let month = key
                .get(prefix.len()..)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if let Some(month) = month {
                out.push((month, totals));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The user's totals per day for the last `days` days, oldest first.
    pub fn days(
        &self,
        user_id: Uuid,
        days: u32,
        now_ms: i64,
    ) -> Result<Vec<(u32, UsageTotals)>, CoreError> {
        self.flush();
        let mut out = Vec::with_capacity(days as usize);
        for back in (0..days as i64).rev() {
            let day = day_of(now_ms - back * 86_400_000);
            let totals = self.stats.days.get(&(user_id, day))?.unwrap_or_default();
            out.push((day, totals));
        }
        Ok(out)
    }

    /// The user's totals per model in the month containing `now_ms`.
    pub fn models(
        &self,
        user_id: Uuid,
        now_ms: i64,
    ) -> Result<Vec<(String, UsageTotals)>, CoreError> {
        self.flush();
        let (month, _, _) = month_of(now_ms);
        let prefix = (user_id, month).to_key();
        self.stats
            .models
            .scan_prefix(prefix.as_slice())
            .map(|item| {
                let (key, totals) = item?;
                let model = String::from_utf8_lossy(key.get(prefix.len()..).unwrap_or_default())
                    .into_owned();
                Ok((model, totals))
            })
            .collect()
    }

    /// The `limit` users with the highest `metric` in the month containing
    /// `now_ms`, highest first (ties: by user id). Reads the month's users only.
    pub fn top_users(
        &self,
        metric: UsageMetric,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<(Uuid, UsageTotals)>, CoreError> {
        self.flush();
        let (month, _, _) = month_of(now_ms);
        let prefix = month.to_key();
        let mut rows = Vec::new();
        for key in self.stats.month_users.keys_with_prefix(prefix.as_slice()) {
            let key = key?;
            let Some(user) = key
                .get(prefix.len()..)
                .and_then(|b| Uuid::from_slice(b).ok())
            else {
                continue;
            };
            let totals = self.monthly.get(&(user, month))?.unwrap_or_default();
            rows.push((user, totals));
        }
        rows.sort_by(|(a_id, a), (b_id, b)| metric.of(b).cmp(&metric.of(a)).then(a_id.cmp(b_id)));
        rows.truncate(limit);
        Ok(rows)
    }
}
