//! Usage accounting: tokens and requests per user and calendar month (UTC).

use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::User;
use crate::store::{Store, Table};

/// One user's totals for one month.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MonthlyUsage {
    pub ai_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Cost in millionths of a US dollar.
    pub cost_micro_usd: u64,
}

impl MonthlyUsage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// The usage summary of API.md 2.3.
#[derive(Debug, Clone)]
pub struct UsageSummary {
    /// First millisecond of the month, and of the next month.
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub usage: MonthlyUsage,
    pub monthly_token_allowance: Option<u64>,
    pub tokens_remaining: Option<i64>,
}

#[derive(Clone)]
pub struct Usage {
    monthly: Table<(Uuid, u32), MonthlyUsage>,
    _store: Store,
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
    pub fn open(store: Store) -> Result<Self, CoreError> {
        Ok(Self {
            monthly: store.table("usage_monthly")?,
            _store: store,
        })
    }

    /// `user`'s usage in the month containing `now_ms`, against their allowance.
    pub fn summary(&self, user: &User, now_ms: i64) -> Result<UsageSummary, CoreError> {
        let (month, start, end) = month_of(now_ms);
        let usage = self.monthly.get(&(user.id, month))?.unwrap_or_default();
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
