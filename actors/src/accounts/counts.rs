//! How many accounts there are, how many are active, and how many were made
//! in each of the last hours: the dashboard's user figures, kept in one
//! record (`account_totals`) that every account write updates in its own
//! transaction, so the figures never disagree with the accounts. A data
//! dir from before the record existed is counted once, at start-up.

use serde::{Deserialize, Serialize};

use super::{Accounts, Tables};
use crate::error::CoreError;
use crate::model::{User, now_ms};
use crate::store::{StoreError, Table, Tx, TxResult};

const HOUR_MS: i64 = 3_600_000;
/// "The last 7 days": the current hour and the 167 before it.
const WEEK_HOURS: i64 = 7 * 24;
const KEY: &str = "users";

/// The stored counts of accounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserTotals {
    /// Every account.
    total: u64,
    /// Accounts with `is_active`.
    active: u64,
    /// (hour since the epoch, accounts made in it), for the last week.
    hours: Vec<(i64, u64)>,
}

impl UserTotals {
    fn created(&mut self, user: &User) {
        self.total += 1;
        if user.is_active {
            self.active += 1;
        }
        let hour = user.created_at.div_euclid(HOUR_MS);
        match self.hours.iter_mut().find(|(h, _)| *h == hour) {
            Some(bucket) => bucket.1 += 1,
            None => self.hours.push((hour, 1)),
        }
        let newest = self.hours.iter().map(|(h, _)| *h).max().unwrap_or(hour);
        self.hours.retain(|(h, _)| *h > newest - WEEK_HOURS - 1);
    }
}

/// What the dashboard shows of the accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFigures {
    /// Every account.
    pub total: u64,
    /// Accounts not deactivated.
    pub active: u64,
    /// Accounts made in the current hour and the 167 before it.
    pub new_last_7_days: u64,
}

/// Counts `user`, just made, inside the transaction that writes it.
pub(super) fn created_in(
    tx: &Tx<'_>,
    totals: &Table<str, UserTotals>,
    user: &User,
) -> TxResult<()> {
    let mut t = tx.get(totals, KEY)?.unwrap_or_default();
    t.created(user);
    tx.insert(totals, KEY, &t)
}

/// Counts a user turned active (or not), inside the transaction that changes it.
pub(super) fn activity_in(
    tx: &Tx<'_>,
    totals: &Table<str, UserTotals>,
    active: bool,
) -> TxResult<()> {
    let mut t = tx.get(totals, KEY)?.unwrap_or_default();
    t.active = if active {
        t.active + 1
    } else {
        t.active.saturating_sub(1)
    };
    tx.insert(totals, KEY, &t)
}

/// Counts every account once if no counts are stored yet (durable with the next commit).
pub(super) fn ensure(tables: &Tables) -> Result<(), StoreError> {
    if tables.totals.get(KEY)?.is_some() {
        return Ok(());
    }
    let mut t = UserTotals::default();
    for entry in tables.users.iter() {
        let (_, user) = entry?;
        t.created(&user);
    }
    tables.totals.insert(KEY, &t)
}

impl Accounts {
    /// The dashboard's user figures: one read of the stored counts.
    pub fn user_figures(&self) -> Result<UserFigures, CoreError> {
        let t = self.tables.totals.get(KEY)?.unwrap_or_default();
        let since = now_ms().div_euclid(HOUR_MS) - (WEEK_HOURS - 1);
        let recent = t.hours.iter().filter(|(h, _)| *h >= since);
        Ok(UserFigures {
            total: t.total,
            active: t.active,
            new_last_7_days: recent.map(|(_, n)| n).sum(),
        })
    }
}
