//! The actor behind one socket: parses each frame and acts on it.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::protocol::{self, ClientMsg, Incoming};
use super::streams::REVOKED;
use super::{Conn, EdgeHooks, Live, leave_all};
use crate::accounts::Accounts;
use crate::channels::{ChannelName, Channels, frames};
use crate::conversations::{ChatParams, Conversations};
use crate::error::{CoreError, ErrorKind};
use crate::projects::Projects;
use crate::supervisor::{Ctx, KeyedActor};

/// A frame from the socket.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Text(String),
    /// Binary frames are not part of the protocol; they get an `error`.
    Binary,
}

pub(crate) struct ConnectionActor {
    pub(super) hooks: Arc<EdgeHooks>,
    pub(super) live: Arc<Live>,
    pub(super) channels: Channels,
    pub(super) conversations: Conversations,
    /// Each chat reads the user afresh here (allowance, active flag).
    pub(super) accounts: Accounts,
    /// Who may subscribe to `project:{id}`: its owner, while it is live.
    pub(super) projects: Projects,
    pub(super) max_subscriptions: usize,
}

/// An `error` reply: code and message.
type Refusal = (ErrorKind, String);

impl KeyedActor for ConnectionActor {
    type Key = u64;
    type Msg = ConnMsg;
    type State = Arc<Conn>;
    const KIND: &'static str = "connections";

    async fn load(&self, key: &u64) -> Result<Arc<Conn>, CoreError> {
        self.live
            .get(key)
            .map(|c| c.value().clone())
            .ok_or_else(|| CoreError::not_found("connection", key))
    }

    async fn handle(
        &self,
        ctx: &Ctx<Self>,
        msg: ConnMsg,
        conn: &mut Arc<Conn>,
    ) -> Result<(), CoreError> {
        let incoming = match msg {
            ConnMsg::Binary => Err(protocol::Refused {
                code: ErrorKind::BadRequest,
                message: "binary frames are not supported: send JSON text".into(),
                reference: None,
            }),
            ConnMsg::Text(text) => protocol::parse(&text),
        };
        match incoming {
            Ok(Incoming { reference, msg }) => {
                if let Err((code, message)) = self.act(*ctx.key(), conn, msg, reference.as_ref()) {
                    conn.outbox
                        .push(frames::error(code, &message, reference.as_ref()));
                }
            }
            Err(refused) => {
                conn.outbox.push(frames::error(
                    refused.code,
                    &refused.message,
                    refused.reference.as_ref(),
                ));
            }
        }
        Ok(())
    }

    /// Passivation keeps the subscriptions; a closed socket leaves them.
    async fn stopping(&self, conn: &mut Arc<Conn>) {
        let id = conn.outbox.conn;
        if !self.live.contains_key(&id) {
            leave_all(&self.channels, id, conn);
        }
    }
}

impl ConnectionActor {
    fn act(
        &self,
        id: u64,
        conn: &Arc<Conn>,
        msg: ClientMsg,
        reference: Option<&Value>,
    ) -> Result<(), Refusal> {
        match msg {
            ClientMsg::Subscribe { channel, since } => {
                self.authorize(conn, &channel)?;
                let since = since
                    .map(|s| s.value())
                    .transpose()
                    .map_err(|e| (e.kind(), e.public_message()))?;
                let known = conn.subscriptions().contains(&channel);
                if !known && conn.subscriptions().len() >= self.max_subscriptions {
                    return Err((
                        ErrorKind::Validation,
                        format!(
                            "at most {} subscriptions per connection",
                            self.max_subscriptions
                        ),
                    ));
                }
                self.channels
                    .subscribe(&channel, conn.user.id, &conn.outbox, since, reference)
                    .map_err(|full| {
                        let message =
                            format!("at most {} rooms of yours may exist at once", full.limit);
                        (ErrorKind::QuotaExceeded, message)
                    })?;
                conn.subscriptions().insert(channel);
            }
            ClientMsg::Unsubscribe { channel } => {
                if conn.subscriptions().remove(&channel) {
                    self.channels.unsubscribe(&channel, id);
                }
                conn.outbox.push(frames::unsubscribed(&channel, reference));
            }
            ClientMsg::Message { channel, data } => {
                self.authorize(conn, &channel)?;
                let own = channel == ChannelName::user(conn.user.id);
                if !own && !conn.subscriptions().contains(&channel) {
                    return Err((
                        ErrorKind::Authorization,
                        format!("subscribe to {channel} before publishing to it"),
                    ));
                }
                self.channels.publish(&channel, Some(conn.user.id), &data);
            }
            ClientMsg::Chat {
                conversation_id,
                content,
                provider,
                model,
            } => {
                if let Err(retry_after) = (self.hooks.chat_gate)(conn.user.id) {
                    return Err((
                        ErrorKind::RateLimitExceeded,
                        format!("too many chats; retry in {retry_after} s"),
                    ));
                }
                // Like 4.1: someone else's conversation does not exist.
                self.conversations
                    .get(conn.user.id, conversation_id)
                    .map_err(|e| (e.kind(), e.public_message()))?;
                let name = ChannelName::conversation(conversation_id);
                // The sender listens implicitly (past the subscription cap).
                if conn.subscriptions().insert(name.clone()) {
                    // Only rooms are ever refused; this is a conversation.
                    let _ =
                        self.channels
                            .subscribe(&name, conn.user.id, &conn.outbox, None, reference);
                }
                let params = ChatParams {
                    content,
                    provider,
                    model,
                    ..ChatParams::default()
                };
                // Allowance and active flag as they are now, not at the upgrade.
                let user = self
                    .accounts
                    .user(conn.user.id)
                    .map_err(|e| (e.kind(), e.public_message()))?;
                if !user.is_active {
                    conn.outbox.close(REVOKED.0, REVOKED.1);
                    return Err((ErrorKind::Authentication, "account is deactivated".into()));
                }
                let (conversations, conn) = (self.conversations.clone(), conn.clone());
                let reference = reference.cloned();
                // Persisting the user message takes a durable write: off the mailbox.
                tokio::spawn(async move {
                    let result = conversations.chat(user, conversation_id, params).await;
                    if let Err(e) = result {
                        reply_error(&conn, &e, reference.as_ref());
                    }
                });
            }
            ClientMsg::Cancel { conversation_id } => {
                let (conversations, conn) = (self.conversations.clone(), conn.clone());
                let reference = reference.cloned();
                tokio::spawn(async move {
                    let result = conversations.cancel(conn.user.id, conversation_id).await;
                    if let Err(e) = result {
                        reply_error(&conn, &e, reference.as_ref());
                    }
                });
            }
            ClientMsg::Ping {} => {
                conn.outbox.push(frames::pong(reference));
            }
            ClientMsg::Auth { token } => self.renew(conn, &token, reference)?,
        }
        Ok(())
    }

    /// An `auth` message: the socket runs on `token` from now on, if it is
    /// a valid credential of the same user.
    fn renew(&self, conn: &Conn, token: &str, reference: Option<&Value>) -> Result<(), Refusal> {
        let Some(authenticate) = self.hooks.authenticator.get() else {
            return Err((
                ErrorKind::ServiceUnavailable,
                "auth is not available".into(),
            ));
        };
        let fresh = authenticate(token).map_err(|e| (e.kind(), e.public_message()))?;
        if !conn.stream.renew(fresh) {
            return Err((
                ErrorKind::Authentication,
                "the token belongs to another user".into(),
            ));
        }
        conn.outbox
            .push(frames::authenticated(fresh.expires_at, reference));
        Ok(())
    }

    /// The channel rules of API.md 6.
    fn authorize(&self, conn: &Conn, name: &str) -> Result<(), Refusal> {
        let forbidden = || (ErrorKind::Authorization, format!("not allowed on {name}"));
        match ChannelName::parse(name) {
            None => Err((
                ErrorKind::InvalidChannel,
                format!(
                    "unknown channel {name:?}: use user:{{id}}, conversation:{{id}}, project:{{id}} or room:{{name}}"
                ),
            )),
            Some(ChannelName::Room(_)) => Ok(()),
            Some(ChannelName::User(id)) if id == conn.user.id => Ok(()),
            Some(ChannelName::Conversation(id)) if self.owns_conversation(conn, id) => Ok(()),
            Some(ChannelName::Project(id)) if self.projects.owns_live(conn.user.id, id) => Ok(()),
            Some(_) => Err(forbidden()),
        }
    }

    fn owns_conversation(&self, conn: &Conn, id: Uuid) -> bool {
        self.conversations.get(conn.user.id, id).is_ok()
    }
}

fn reply_error(conn: &Conn, e: &CoreError, reference: Option<&Value>) {
    conn.outbox
        .push(frames::error(e.kind(), &e.public_message(), reference));
}
