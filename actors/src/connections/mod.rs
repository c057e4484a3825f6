//! One `ConnectionActor` per WebSocket (API.md 6). The edge's reader task
//! hands it each frame; it owns the connection's subscriptions, answers
//! through the connection's bounded outbox, and drives chat through the
//! conversation actors. Nothing about a connection is persisted: its state
//! ([`Conn`]) stays in memory while the socket is open, and the actor
//! passivates when the socket is quiet (an idle socket costs no actor) and
//! starts again from that state with the next frame.
//!
//! [`Streams`] tracks every open stream (these sockets and the edge's SSE
//! responses) by user and credential: it caps them per user and closes the
//! ones whose credential is revoked.

mod actor;
pub mod protocol;
pub mod streams;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashMap;

use crate::accounts::Accounts;
use crate::channels::{ChannelName, Channels, Outbox, OutboxRx, frames};
use crate::conversations::Conversations;
use crate::error::{CoreError, ErrorKind};
use crate::model::User;
use crate::projects::Projects;
use crate::supervisor::{Supervisor, SupervisorConfig};
use actor::{ConnMsg, ConnectionActor};
pub use streams::{Credential, StreamHandle, StreamLease, Streams, TooManyStreams};

/// Limits of WebSocket connections and streams (from `[ws]` and `[limits]`).
#[derive(Debug, Clone)]
pub struct ConnectionsConfig {
    /// Frames queued per connection before it is closed as a slow consumer.
    pub outbound_queue: usize,
    /// Explicit subscriptions allowed per connection.
    pub max_subscriptions: usize,
    /// Open WebSockets plus SSE streams per user.
    pub max_streams_per_user: usize,
}

/// What a connection's actor keeps, shared with the registry so that a
/// restarted actor picks up the same socket and subscriptions.
pub struct Conn {
    /// The user as of the upgrade: only its id is trusted later; whatever
    /// can change (allowance, active flag) is read fresh.
    pub user: Arc<User>,
    /// The connection's bounded outbound queue; replies and channel messages go here.
    pub outbox: Outbox,
    /// The credential the socket runs on, renewed by `auth` messages.
    pub stream: StreamHandle,
    subscriptions: Mutex<HashSet<String>>,
}

impl Conn {
    fn subscriptions(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Live = DashMap<u64, Arc<Conn>>;

/// The edge's rate limit for chats sent over a socket (class `ai`):
/// `Err(seconds to wait)` when the user is over it. Required at start, so
/// a core that serves sockets cannot run without it.
pub type ChatGate = Arc<dyn Fn(uuid::Uuid) -> Result<(), u64> + Send + Sync>;

/// A gate that lets every chat through: for a core that serves no sockets
/// (the admin CLI).
pub fn no_chat_limit() -> ChatGate {
    Arc::new(|_| Ok(()))
}

/// The edge's check of a token sent in an `auth` message (the core cannot
/// verify access tokens: their keys live at the edge).
pub type Authenticator = Arc<dyn Fn(&str) -> Result<Credential, CoreError> + Send + Sync>;

/// The hooks of the edge: the chat gate, given at start, and the
/// authenticator, installed once the edge's keys are loaded (until then an
/// `auth` message is refused).
pub(crate) struct EdgeHooks {
    chat_gate: ChatGate,
    authenticator: OnceLock<Authenticator>,
}

/// Opens, feeds and closes connections. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    actors: Supervisor<ConnectionActor>,
    live: Arc<Live>,
    channels: Channels,
    next_id: Arc<AtomicU64>,
    config: ConnectionsConfig,
    hooks: Arc<EdgeHooks>,
    streams: Streams,
}

impl Connections {
    /// Starts the connection actors' supervisor and closes streams on each revocation.
    pub async fn start(
        channels: Channels,
        conversations: Conversations,
        accounts: Accounts,
        config: ConnectionsConfig,
        actors: SupervisorConfig,
        chat_gate: ChatGate,
        projects: Projects,
    ) -> Result<Self, CoreError> {
        let live = Arc::new(Live::new());
        let hooks = Arc::new(EdgeHooks {
            chat_gate,
            authenticator: OnceLock::new(),
        });
        let streams = Streams::new(config.max_streams_per_user);
        let revoked = streams.clone();
        accounts
            .revocations()
            .subscribe(Arc::new(move |r| revoked.revoke(r)));
        let behavior = ConnectionActor {
            hooks: hooks.clone(),
            live: live.clone(),
            channels: channels.clone(),
            conversations,
            accounts,
            projects,
            max_subscriptions: config.max_subscriptions,
        };
        Ok(Self {
            actors: Supervisor::start(behavior, actors).await?,
            live,
            channels,
            next_id: Arc::new(AtomicU64::new(0)),
            config,
            hooks,
            streams,
        })
    }

    /// Sets how `auth` messages are checked, once, at start-up.
    pub fn set_authenticator(&self, authenticator: Authenticator) {
        let _ = self.hooks.authenticator.set(authenticator);
    }

    /// Every open stream, WebSocket or SSE, by user and credential.
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// Registers a socket of `user` on the stream slot `stream`: answers its
    /// id and the queue its writer drains, which already holds the
    /// `connected` message. Revoking the stream's credential closes it.
    pub fn open(&self, user: Arc<User>, stream: StreamHandle) -> (u64, OutboxRx) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let close = stream.close_signal().clone();
        let (outbox, rx) = Outbox::with_close(id, self.config.outbound_queue, close);
        outbox.push(frames::connected(user.id, id));
        // Server-side notifications reach every connection of the user.
        self.channels
            .join(&ChannelName::user(user.id), user.id, &outbox);
        let conn = Arc::new(Conn {
            user,
            outbox,
            stream,
            subscriptions: Mutex::new(HashSet::new()),
        });
        // The actor starts with the first frame and passivates when the
        // socket is quiet, like every actor: an idle socket costs no actor.
        self.live.insert(id, conn);
        metrics::gauge!("chorus_ws_connections").increment(1.0);
        (id, rx)
    }

    /// Hands a text frame from the socket to the connection's actor.
    pub async fn receive_text(&self, id: u64, text: String) -> Result<(), CoreError> {
        self.actors.cast(&id, ConnMsg::Text(text)).await
    }

    /// A binary frame arrived: not part of the protocol, so it gets an `error`.
    pub async fn receive_binary(&self, id: u64) -> Result<(), CoreError> {
        self.actors.cast(&id, ConnMsg::Binary).await
    }

    /// Queues an `error` for connection `id` (the edge's frame rate limit).
    pub fn reply_error(&self, id: u64, code: ErrorKind, message: &str) {
        if let Some(conn) = self.live.get(&id) {
            conn.outbox.push(frames::error(code, message, None));
        }
    }

    /// Ends a connection whose socket closed: its actor handles what is
    /// queued, then leaves every channel.
    pub fn closed(&self, id: u64) {
        let Some((_, conn)) = self.live.remove(&id) else {
            return;
        };
        metrics::gauge!("chorus_ws_connections").decrement(1.0);
        if self.actors.get(&id).is_some() {
            self.actors.stop(&id);
        } else {
            leave_all(&self.channels, id, &conn);
        }
    }

    /// WebSockets open now (the admin dashboard).
    pub fn open_sockets(&self) -> usize {
        self.live.len()
    }

    /// Connection actors alive now (a quiet socket's actor passivates).
    pub fn actor_count(&self) -> usize {
        self.actors.len()
    }

    /// Whether the connection actors' supervisor is still running.
    pub fn is_up(&self) -> bool {
        self.actors.is_up()
    }

    /// Asks every socket to close with 1001, then stops the actors within `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        for conn in self.live.iter() {
            conn.outbox.close(1001, "server shutting down");
        }
        self.actors.shutdown(grace).await;
    }
}

/// Takes connection `id` out of every channel it is in.
fn leave_all(channels: &Channels, id: u64, conn: &Conn) {
    let subscriptions = std::mem::take(&mut *conn.subscriptions());
    for name in subscriptions {
        channels.unsubscribe(&name, id);
    }
    channels.unsubscribe(&ChannelName::user(conn.user.id), id);
}
