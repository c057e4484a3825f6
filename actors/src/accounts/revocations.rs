//! Revocation events: the accounts service says when a credential dies, so
//! whatever was opened with it (a WebSocket, an SSE stream) ends at once
//! instead of living on until it next authenticates.
//!
//! Listeners are plain callbacks run by the revoking code. A broadcast
//! channel would need a task per listener and can drop events when one
//! lags; a revocation must never be lost, and every listener only flips a
//! few close signals, so calling them in place is both simpler and safer.

use std::sync::{Arc, RwLock};

use uuid::Uuid;

/// A credential that stopped being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// A login session: logout, `DELETE /auth/sessions/{id}`, a password
    /// change (the other sessions), a reused refresh token.
    Session {
        /// The session's user.
        user: Uuid,
        /// The session that ended; access tokens naming it are refused.
        session: Uuid,
    },
    /// A deleted API key.
    ApiKey {
        /// The key's owner.
        user: Uuid,
        /// The id of the deleted key.
        key: Uuid,
    },
    /// A deactivated user: every credential of theirs.
    User(Uuid),
}

impl Revoked {
    /// The user whose credential it was.
    pub fn user(&self) -> Uuid {
        match *self {
            Revoked::Session { user, .. } | Revoked::ApiKey { user, .. } | Revoked::User(user) => {
                user
            }
        }
    }
}

/// Called with each revocation, on the revoking task: must not block.
pub type RevocationListener = Arc<dyn Fn(&Revoked) + Send + Sync>;

/// Where revocations are announced. Cheap to clone.
#[derive(Clone, Default)]
pub struct Revocations {
    listeners: Arc<RwLock<Vec<RevocationListener>>>,
}

impl Revocations {
    /// Calls `listener` with every later revocation.
    pub fn subscribe(&self, listener: RevocationListener) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    /// Tells every listener.
    pub(crate) fn emit(&self, revoked: Revoked) {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for listener in listeners.iter() {
            listener(&revoked);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn every_listener_hears_every_revocation() {
        let revocations = Revocations::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..2 {
            let heard = heard.clone();
            revocations.subscribe(Arc::new(move |r| heard.lock().unwrap().push(*r)));
        }
        let user = Uuid::now_v7();
        revocations.emit(Revoked::User(user));
        assert_eq!(*heard.lock().unwrap(), vec![Revoked::User(user); 2]);
        assert_eq!(Revoked::User(user).user(), user);
    }
}
