//! SessionActor: one per login session. It owns the session's refresh-token
//! family, so rotation is serialized: two refreshes with one token can never
//! both succeed, and a spent token revokes the whole session.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::RpcReplyPort;
use uuid::Uuid;

use crate::accounts::{Revocations, Revoked, Tables, secrets};
use crate::error::CoreError;
use crate::model::{Session, now_ms};
use crate::store::Store;
use crate::supervisor::{Ctx, KeyedActor};

/// How many rotated-away refresh hashes a session remembers for reuse detection.
const SPENT_KEPT: usize = 64;

/// Why a refresh was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRefused {
    /// Unknown, expired or revoked.
    Invalid,
    /// A token that was already rotated away: the session is now revoked.
    Reused,
}

pub(crate) enum SessionMsg {
    /// Rotates the refresh token presented (by its hash); answers the new token.
    Refresh(
        [u8; 32],
        RpcReplyPort<Result<(Session, String), RefreshRefused>>,
    ),
    /// Revokes the session at once.
    Revoke(RpcReplyPort<Result<(), CoreError>>),
    /// Records activity (throttled by the caller).
    Touch,
}

pub(crate) struct SessionActor {
    store: Store,
    tables: Tables,
    revoked: Arc<DashMap<Uuid, i64>>,
    refresh_ttl: Duration,
    /// Told of each revocation, so sockets of the session close.
    revocations: Revocations,
}

impl SessionActor {
    pub(crate) fn new(
        store: Store,
        tables: Tables,
        revoked: Arc<DashMap<Uuid, i64>>,
        refresh_ttl: Duration,
        revocations: Revocations,
    ) -> Self {
        Self {
            store,
            tables,
            revoked,
            refresh_ttl,
            revocations,
        }
    }

    async fn refresh(
        &self,
        session: &mut Session,
        presented: [u8; 32],
    ) -> Result<(Session, String), RefreshRefused> {
        let now = now_ms();
        if !session.is_live(now) {
            return Err(RefreshRefused::Invalid);
        }
        if secrets::same_hash(&presented, &session.refresh_hash) {
            let token = secrets::refresh_token(session.id);
            // Rotate a copy: if it cannot be saved, the presented token stays valid.
            let mut next = session.clone();
            next.spent_hashes.push(next.refresh_hash);
            if next.spent_hashes.len() > SPENT_KEPT {
                next.spent_hashes.remove(0);
            }
            next.refresh_hash = secrets::sha256(&token);
            next.last_seen_at = now;
            next.refresh_expires_at = now + self.refresh_ttl.as_millis() as i64;
            self.persist(&next).await.map_err(|e| {
                tracing::error!(error = %e, "session rotation not persisted");
                RefreshRefused::Invalid
            })?;
            *session = next;
            return Ok((session.clone(), token));
        }
        if session
            .spent_hashes
            .iter()
            .any(|spent| secrets::same_hash(&presented, spent))
        {
            tracing::warn!(session_id = %session.id, "spent refresh token presented; revoking the session");
            if let Err(e) = self.revoke(session).await {
                tracing::error!(error = %e, "revocation after token reuse failed");
            }
            return Err(RefreshRefused::Reused);
        }
        Err(RefreshRefused::Invalid)
    }

    async fn persist(&self, session: &Session) -> Result<(), CoreError> {
        self.tables.sessions.insert(&session.id, session)?;
        self.store.commit().await?;
        Ok(())
    }

    async fn revoke(&self, session: &mut Session) -> Result<(), CoreError> {
        if session.revoked_at.is_some() {
            return Ok(());
        }
        let now = now_ms();
        // Refuse its access tokens before anything else can use them.
        self.revoked.insert(session.id, now);
        self.revocations.emit(Revoked::Session {
            user: session.user_id,
            session: session.id,
        });
        let t = &self.tables;
        let mut revoked = session.clone();
        revoked.revoked_at = Some(now);
        self.store
            .transaction(&[&t.sessions, &t.revocations], |tx| {
                tx.insert(&t.sessions, &revoked.id, &revoked)?;
                tx.insert(&t.revocations, &(now, revoked.id), &())
            })
            .await?;
        *session = revoked;
        Ok(())
    }
}

impl KeyedActor for SessionActor {
    type Key = Uuid;
    type Msg = SessionMsg;
    type State = Session;
    const KIND: &'static str = "sessions";

    async fn load(&self, id: &Uuid) -> Result<Session, CoreError> {
        self.tables
            .sessions
            .get(id)?
            .ok_or_else(|| CoreError::not_found("session", id))
    }

    fn message_kind(msg: &SessionMsg) -> &'static str {
        match msg {
            SessionMsg::Refresh(..) => "refresh",
            SessionMsg::Revoke(_) => "revoke",
            SessionMsg::Touch => "touch",
        }
    }

    async fn handle(
        &self,
        _ctx: &Ctx<Self>,
        msg: SessionMsg,
        session: &mut Session,
    ) -> Result<(), CoreError> {
        match msg {
            SessionMsg::Refresh(presented, reply) => {
                let _ = reply.send(self.refresh(session, presented).await);
            }
            SessionMsg::Revoke(reply) => {
                let _ = reply.send(self.revoke(session).await);
            }
            SessionMsg::Touch => {
                session.last_seen_at = now_ms();
                // Not acknowledged to anyone: the next commit makes it durable.
                self.tables.sessions.insert(&session.id, session)?;
            }
        }
        Ok(())
    }
}
