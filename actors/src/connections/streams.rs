//! Every open stream (a WebSocket or an SSE response) by user, with the
//! credential it was opened with. It caps the streams one user holds, and
//! closes the ones whose credential is revoked: a stream is authenticated
//! once, at its start, so without this a logged-out token would keep
//! listening. Expiry is the owner's to act on ([`StreamHandle::expired`]):
//! the WebSocket edge closes its socket then; an SSE stream is not closed
//! when its access token expires, only at the end of its generation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::watch;
use uuid::Uuid;

use crate::accounts::Revoked;
use crate::channels::CloseSignal;

/// Close code and reason for a stream whose credential was revoked.
pub const REVOKED: (u16, &str) = (1008, "revoked");
/// Close code and reason for a socket whose access token ran out.
pub const TOKEN_EXPIRED: (u16, &str) = (1008, "token expired");

/// What a stream was opened with: what revoking it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// The user the stream belongs to; its slot counts against their cap.
    pub user: Uuid,
    /// The login session of an access token.
    pub session: Option<Uuid>,
    /// The API key, when one was used.
    pub api_key: Option<Uuid>,
    /// When the access token expires (unix seconds); `None` for API keys.
    pub expires_at: Option<i64>,
}

impl Credential {
    fn revoked_by(&self, revoked: &Revoked) -> bool {
        match *revoked {
            Revoked::User(user) => user == self.user,
            Revoked::Session { session, .. } => self.session == Some(session),
            Revoked::ApiKey { key, .. } => self.api_key == Some(key),
        }
    }
}

/// A user already holds as many streams as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStreams {
    /// The streams one user may hold open (`limits.max_streams_per_user`).
    pub limit: usize,
}

/// One open stream.
struct Slot {
    credential: watch::Sender<Credential>,
    close: Arc<CloseSignal>,
}

type ByUser = DashMap<Uuid, HashMap<u64, Arc<Slot>>>;

/// The registry. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    by_user: Arc<ByUser>,
    next_id: Arc<AtomicU64>,
    max_per_user: usize,
    /// SSE responses open now: the edge's `StreamGauge` counts itself here
    /// through its lease, so the dashboard reads this server's streams only.
    sse: Arc<AtomicUsize>,
}

impl Streams {
    /// An empty registry allowing `max_per_user` open streams per user.
    pub fn new(max_per_user: usize) -> Self {
        Self {
            by_user: Arc::new(DashMap::new()),
            next_id: Arc::new(AtomicU64::new(0)),
            max_per_user,
            sse: Default::default(),
        }
    }

    /// Registers a stream opened with `credential`, or refuses it when its
    /// user already holds the most allowed. The stream is closed through
    /// the lease's [`CloseSignal`]; dropping the lease frees the slot.
    pub fn open(&self, credential: Credential) -> Result<StreamLease, TooManyStreams> {
        let mut streams = self.by_user.entry(credential.user).or_default();
        if streams.len() >= self.max_per_user {
            return Err(TooManyStreams {
                limit: self.max_per_user,
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            credential: watch::Sender::new(credential),
            close: Arc::new(CloseSignal::default()),
        });
        streams.insert(id, slot.clone());
        Ok(StreamLease {
            id,
            handle: StreamHandle { slot },
            by_user: self.by_user.clone(),
            sse: self.sse.clone(),
        })
    }

    /// Closes every stream `revoked` covers with 1008 `revoked`.
    pub fn revoke(&self, revoked: &Revoked) {
        let Some(streams) = self.by_user.get(&revoked.user()) else {
            return;
        };
        for slot in streams.values() {
            if slot.credential.borrow().revoked_by(revoked) {
                slot.close.close(REVOKED.0, REVOKED.1);
            }
        }
    }

    /// SSE responses open now, as counted by [`StreamLease::sse_count`].
    pub fn open_sse(&self) -> usize {
        self.sse.load(Ordering::Relaxed)
    }

    /// How many streams `user` holds open.
    pub fn open_by(&self, user: Uuid) -> usize {
        self.by_user.get(&user).map_or(0, |s| s.len())
    }
}

/// An open stream's slot: held by whoever serves the stream, freed on drop.
pub struct StreamLease {
    id: u64,
    handle: StreamHandle,
    by_user: Arc<ByUser>,
    sse: Arc<AtomicUsize>,
}

impl StreamLease {
    /// The count of open SSE responses of the registry this lease is from:
    /// an SSE response adds itself while it lives ([`Streams::open_sse`]).
    pub fn sse_count(&self) -> Arc<AtomicUsize> {
        self.sse.clone()
    }

    /// A handle to the stream, for whoever renews or closes it.
    pub fn handle(&self) -> &StreamHandle {
        &self.handle
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        let user = self.handle.credential().user;
        if let Some(mut streams) = self.by_user.get_mut(&user) {
            streams.remove(&self.id);
        }
        self.by_user
            .remove_if(&user, |_, streams| streams.is_empty());
    }
}

/// What a stream's owner and its connection actor share. Cheap to clone.
#[derive(Clone)]
pub struct StreamHandle {
    slot: Arc<Slot>,
}

impl StreamHandle {
    /// Set when the stream must end (revoked, expired, shut down).
    pub fn close_signal(&self) -> &Arc<CloseSignal> {
        &self.slot.close
    }

    /// The credential the stream runs on now (renewed by `auth` messages).
    pub fn credential(&self) -> Credential {
        *self.slot.credential.borrow()
    }

    /// Replaces the credential with a fresh one of the same user (the
    /// socket's `auth` message); false, and nothing changed, otherwise.
    pub fn renew(&self, fresh: Credential) -> bool {
        self.slot.credential.send_if_modified(|current| {
            if current.user != fresh.user {
                return false;
            }
            *current = fresh;
            true
        })
    }

    /// Resolves when the current credential's access token expires (never
    /// for one without an expiry); a renewal moves the deadline.
    pub async fn expired(&self) {
        let mut credential = self.slot.credential.subscribe();
        loop {
            let expires_at = credential.borrow_and_update().expires_at;
            let wait = match expires_at {
                Some(at) => {
                    let left_ms = at.saturating_mul(1000) - chrono::Utc::now().timestamp_millis();
                    if left_ms <= 0 {
                        return;
                    }
                    Duration::from_millis(left_ms.unsigned_abs())
                }
                None => Duration::MAX,
            };
            tokio::select! {
                () = sleep(wait) => {}
                changed = credential.changed() => {
                    if changed.is_err() {
                        // The stream is gone; nothing will expire.
                        return std::future::pending().await;
                    }
                }
            }
        }
    }
}

/// `tokio::time::sleep` for any duration, `Duration::MAX` included.
async fn sleep(wait: Duration) {
    match tokio::time::Instant::now().checked_add(wait) {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(user: Uuid) -> Credential {
        Credential {
            user,
            session: Some(Uuid::now_v7()),
            api_key: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_user_holds_at_most_the_cap_and_a_dropped_lease_frees_its_slot() {
        let streams = Streams::new(2);
        let ada = Uuid::now_v7();
        let first = streams.open(credential(ada)).unwrap();
        let _second = streams.open(credential(ada)).unwrap();
        assert_eq!(
            streams.open(credential(ada)).err(),
            Some(TooManyStreams { limit: 2 })
        );
        assert!(streams.open(credential(Uuid::now_v7())).is_ok());
        drop(first);
        assert_eq!(streams.open_by(ada), 1);
        assert!(streams.open(credential(ada)).is_ok());
    }

    #[test]
    fn revoking_closes_only_the_streams_of_that_credential() {
        let streams = Streams::new(10);
        let ada = Uuid::now_v7();
        let by_session = streams.open(credential(ada)).unwrap();
        let key = Uuid::now_v7();
        let by_key = streams
            .open(Credential {
                api_key: Some(key),
                session: None,
                ..credential(ada)
            })
            .unwrap();
        let session = by_session.handle().credential().session.unwrap();
        streams.revoke(&Revoked::Session { user: ada, session });
        assert_eq!(by_session.handle().close_signal().reason(), Some(REVOKED));
        assert!(!by_key.handle().close_signal().is_closed());
        streams.revoke(&Revoked::User(ada));
        assert!(by_key.handle().close_signal().is_closed());
    }

    #[tokio::test]
    async fn expiry_follows_the_renewed_credential() {
        let streams = Streams::new(10);
        let ada = Uuid::now_v7();
        let now = chrono::Utc::now().timestamp();
        let lease = streams
            .open(Credential {
                expires_at: Some(now - 1),
                ..credential(ada)
            })
            .unwrap();
        // Already past: resolves at once.
        lease.handle().expired().await;
        let fresh = Credential {
            expires_at: Some(now + 3600),
            ..credential(ada)
        };
        assert!(lease.handle().renew(fresh));
        assert!(!lease.handle().renew(credential(Uuid::now_v7())));
        let expired = lease.handle().expired();
        tokio::pin!(expired);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut expired)
                .await
                .is_err()
        );
    }
}
