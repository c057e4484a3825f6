//! Bursts of failed sign-ins: one audit record per burst, not per failure,
//! so a password-guessing run is one line with its count instead of
//! thousands that bury everything else.
//!
//! A burst is keyed by the account (the lower-cased email as typed, known or
//! not). It closes, and its record is written, once it has been quiet for
//! the configured period, once it has lasted [`MAX_SPAN_MS`] (a steady attack
//! still shows up), when too many are open at once, and at shutdown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Audit, AuditEvent};
use crate::model::now_ms;

/// The action of a burst's record.
pub const LOGIN_FAILED: &str = "auth.login_failed";

/// The longest a burst stays open, however steady its failures (15 minutes).
const MAX_SPAN_MS: i64 = 15 * 60 * 1000;

/// Open bursts above which every one is closed at once (memory bound for an
/// attack spread over many email addresses).
const MAX_OPEN: usize = 10_000;

/// Distinct client addresses kept per burst.
const MAX_IPS: usize = 10;

/// Longest email kept in a record (the longest valid address).
const MAX_EMAIL_CHARS: usize = 254;

/// The failures of one account since its burst opened.
#[derive(Debug, Clone)]
struct Burst {
    /// The account's user, when the email names one.
    user_id: Option<Uuid>,
    count: u64,
    /// Unix ms of the first and the latest failure.
    first_at: i64,
    last_at: i64,
    /// Distinct client addresses, first seen first, at most [`MAX_IPS`].
    ips: Vec<String>,
}

/// The open bursts. The lock is held only to update or take entries.
#[derive(Default)]
pub(super) struct LoginBursts {
    open: Mutex<HashMap<String, Burst>>,
    /// Woken when [`MAX_OPEN`] is passed, so the closer does not wait a tick.
    full: tokio::sync::Notify,
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl Audit {
    /// Counts one failed sign-in on `account` (the email as typed) at `at`
    /// (unix ms). Nothing is written until its burst closes.
    pub fn login_failed(&self, account: &str, user_id: Option<Uuid>, ip: Option<String>, at: i64) {
        let account: String = account.chars().take(MAX_EMAIL_CHARS).collect();
        let mut open = self.bursts.open.lock().unwrap_or_else(|e| e.into_inner());
        let burst = open.entry(account).or_insert_with(|| Burst {
            user_id,
            count: 0,
            first_at: at,
            last_at: at,
            ips: Vec::new(),
        });
        burst.count += 1;
        burst.last_at = burst.last_at.max(at);
        if let Some(ip) = ip
            && burst.ips.len() < MAX_IPS
            && !burst.ips.contains(&ip)
        {
            burst.ips.push(ip);
        }
        if open.len() > MAX_OPEN {
            self.bursts.full.notify_one();
        }
    }

    /// Closes the bursts quiet for `quiet_ms` by `now`, or open for
    /// [`MAX_SPAN_MS`], or every one with `all`, writing one record each.
    /// Answers how many closed.
    pub async fn close_login_bursts(&self, now: i64, quiet_ms: i64, all: bool) -> usize {
        let closed: Vec<(String, Burst)> = {
            let mut open = self.bursts.open.lock().unwrap_or_else(|e| e.into_inner());
            let all = all || open.len() > MAX_OPEN;
            let done: Vec<String> = open
                .iter()
                .filter(|(_, b)| {
                    all || now - b.last_at >= quiet_ms || now - b.first_at >= MAX_SPAN_MS
                })
                .map(|(k, _)| k.clone())
                .collect();
            done.into_iter()
                .filter_map(|k| open.remove_entry(&k))
                .collect()
        };
        let n = closed.len();
        for (email, burst) in closed {
            let details = serde_json::json!({
                "email": email,
                "count": burst.count,
                "first_at": rfc3339(burst.first_at),
                "last_at": rfc3339(burst.last_at),
                "ip_addresses": burst.ips,
                "reason": "bad credentials",
            });
            let event = AuditEvent {
                actor_id: burst.user_id,
                action: LOGIN_FAILED,
                resource_type: "user",
                resource_id: burst.user_id.map(|id| id.to_string()),
                details,
                ip_address: burst.ips.last().cloned(),
            };
            self.record_or_log(event).await;
        }
        n
    }

    /// Closes bursts as they go quiet, until `stop`; then closes the rest.
    pub(crate) async fn close_login_bursts_until(self, quiet: Duration, stop: CancellationToken) {
        let quiet_ms = quiet.as_millis().min(i64::MAX as u128) as i64;
        let every = (quiet / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut pace = crate::background::Pace::new(every, &self.bursts.full, &stop);
        while pace.next().await {
            self.close_login_bursts(now_ms(), quiet_ms, false).await;
        }
        self.close_login_bursts(now_ms(), quiet_ms, true).await;
    }
}
