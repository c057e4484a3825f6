//! Notifications (API.md 2.3 and 6): what the server tells one user, kept
//! in the store so a user who was offline reads them by REST, and sent
//! live to every socket of theirs as `{"type":"notification","data":..}`.
//!
//! Triggers: the user's job ended, a document is ready (or failed), 80%
//! and 100% of the monthly allowance (once each per month), an admin
//! changed their role or allowance. The accounts, built before this
//! service, reach it through a [`Notifier`] slot that `Core` fills at
//! start; usage tells `Core`'s allowance watcher, which calls
//! [`Notifications::quota_used`].

mod notice;
mod tables;
#[cfg(test)]
mod tests;
mod triggers;

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::channels::Channels;
use crate::error::CoreError;
use crate::model::{JsonText, User, now_ms};
use crate::store::Store;

pub use notice::{Notice, NoticeKind};
pub use tables::{KEPT_PER_USER, Notification};
pub use triggers::watch_ended_jobs;

/// A page of a user's notifications.
#[derive(Debug, Clone)]
pub struct NotificationPage {
    /// This page, newest first.
    pub items: Vec<Notification>,
    /// How many the list holds (only unread ones when asked for those).
    pub total: usize,
    /// How many of the user's notifications are unread.
    pub unread: usize,
}

/// Every user's notifications. Cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    store: Store,
    tables: tables::Tables,
    /// Where the live copy goes: the user's `user:{id}` channel.
    channels: Channels,
}

impl Notifications {
    /// Opens the notification tables.
    pub fn open(store: Store, channels: Channels) -> Result<Self, CoreError> {
        Ok(Self {
            tables: tables::Tables::open(&store)?,
            store,
            channels,
        })
    }

    /// Stores `notice` for `user` and sends it to their sockets. Durable
    /// with the next commit (see [`Notifications::send`]).
    pub fn push(&self, user: Uuid, notice: Notice) -> Result<Notification, CoreError> {
        let n = Notification {
            id: Uuid::now_v7(),
            user_id: user,
            kind: notice.kind,
            title: notice.title,
            body: notice.body,
            data_json: JsonText::from_value(&notice.data),
            created_at: now_ms(),
            read_at: None,
        };
        {
            let _guard = self.tables.locks.lock(&user);
            self.tables.insert_locked(&n)?;
        }
        // Stored first: a client that hears of it can read and mark it at once.
        self.channels.notify_user(user, &to_json(&n)?);
        Ok(n)
    }

    /// [`Notifications::push`], then a commit. A failure is logged: a
    /// notification never fails what triggered it.
    pub async fn send(&self, user: Uuid, notice: Notice) {
        let kind = notice.kind.as_str();
        let sent = self.push(user, notice).map(drop);
        let result = match sent {
            Ok(()) => self.store.commit().await.map_err(CoreError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!(user = %user, kind, error = %e, "a notification was not stored");
        }
    }

    /// A page of `user`'s notifications, newest first; only unread ones
    /// with `unread_only`.
    pub fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        skip: usize,
        limit: usize,
    ) -> Result<NotificationPage, CoreError> {
        let (items, total, unread) = self.tables.page(user, unread_only, skip, limit)?;
        Ok(NotificationPage {
            items,
            total,
            unread,
        })
    }

    /// Marks `user`'s notification `id` read (again is a no-op); another
    /// user's or an unknown id is `NotFound`.
    pub async fn mark_read(&self, user: Uuid, id: Uuid) -> Result<Notification, CoreError> {
        let n = {
            let _guard = self.tables.locks.lock(&user);
            let mut n = self
                .tables
                .get(user, id)?
                .ok_or_else(|| CoreError::not_found("notification", id))?;
            if n.read_at.is_none() {
                self.tables.mark_read_locked(&mut n, now_ms())?;
            }
            n
        };
        self.store.commit().await?;
        Ok(n)
    }

    /// Marks every unread notification of `user` read; answers how many.
    pub async fn mark_all_read(&self, user: Uuid) -> Result<usize, CoreError> {
        let now = now_ms();
        let updated = {
            let _guard = self.tables.locks.lock(&user);
            let mut updated = 0;
            for id in self.tables.unread_ids(user)? {
                if let Some(mut n) = self.tables.get(user, id)? {
                    self.tables.mark_read_locked(&mut n, now)?;
                    updated += 1;
                }
            }
            updated
        };
        self.store.commit().await?;
        Ok(updated)
    }

    /// Tells the user what an admin changed between `before` and `after`
    /// (role, allowance); nothing if neither changed.
    pub async fn account_changed(&self, before: &User, after: &User) {
        if before.role != after.role {
            let notice = Notice::role_changed(before.role, after.role);
            self.send(after.id, notice).await;
        }
        if before.monthly_token_allowance != after.monthly_token_allowance {
            let notice = Notice::allowance_changed(
                before.monthly_token_allowance,
                after.monthly_token_allowance,
            );
            self.send(after.id, notice).await;
        }
    }
}

/// The JSON view, on the socket and (through the edge's view) over REST:
/// `{"id","kind","title","body","data","read","read_at","created_at"}`.
pub fn to_json(n: &Notification) -> Result<Value, CoreError> {
    Ok(json!({
        "id": n.id,
        "kind": n.kind.as_str(),
        "title": n.title,
        "body": n.body,
        "data": n.data_json.parse()?,
        "read": n.read_at.is_some(),
        "read_at": n.read_at.map(rfc3339_ms),
        "created_at": rfc3339_ms(n.created_at),
    }))
}

/// Unix ms as the contract writes times: RFC 3339, UTC, milliseconds, `Z`.
fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Where a service made before [`Notifications`] sends them: empty until
/// `Core` attaches the notifications at start (nothing is sent before).
/// Cheap to clone; every clone sees the attachment.
#[derive(Clone, Default)]
pub struct Notifier(Arc<OnceLock<Notifications>>);

impl Notifier {
    /// Fills the slot; a second call is ignored.
    pub fn attach(&self, notifications: Notifications) {
        let _ = self.0.set(notifications);
    }

    /// The notifications, once attached.
    pub fn get(&self) -> Option<&Notifications> {
        self.0.get()
    }
}
