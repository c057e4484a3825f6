//! The keyed supervisor that all four actor kinds share.
//!
//! A kind implements [`KeyedActor`] (how to load its state and handle a
//! message); [`Supervisor`] runs one child actor per key:
//! - a registry the edge reads without a mailbox round trip;
//! - race-free [`Supervisor::get_or_start`]: every start goes through the
//!   parent actor's mailbox, so two callers never start two actors for a key;
//! - children are linked; a failed child is restarted from its persisted
//!   state, at most `max_restarts` times per `restart_window`, after which
//!   its key stays down and callers get [`CoreError::Unavailable`];
//! - children passivate after `idle_timeout` without a message.

mod child;
mod parent;
#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorId, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::error::CoreError;
pub(crate) use child::ChildMsg;
pub use child::{Ctx, Mailbox};
use parent::Parent;

/// Where the parent answers a start.
type StartReply<A> = RpcReplyPort<Result<ActorRef<ChildMsg<<A as KeyedActor>::Msg>>, CoreError>>;

/// A running child's address.
type ChildRef<A> = ActorRef<ChildMsg<<A as KeyedActor>::Msg>>;

/// What the parent actor of a kind handles (its children send `Idle`).
enum ParentMsg<A: KeyedActor> {
    Start(A::Key, StartReply<A>),
    /// A child has been idle long enough to passivate.
    Idle(A::Key, ActorId),
    /// A child's start (its `load`) ended, in a task of its own.
    Started(A::Key, Result<ChildRef<A>, CoreError>),
}

/// What a kind of keyed actor does. Implemented once per kind
/// (sessions, conversations, jobs, connections).
pub trait KeyedActor: Send + Sync + Sized + 'static {
    /// The id the actor is reached by.
    type Key: Clone + Eq + Hash + Send + Sync + Debug + 'static;
    /// The messages it handles. Requests carry an `RpcReplyPort` in their last field.
    type Msg: Send + 'static;
    /// Its in-memory state, rebuilt by [`KeyedActor::load`].
    type State: Send + 'static;
    /// The `kind` label of the actor metrics.
    const KIND: &'static str;

    /// Builds the state from the store: on first start, after passivation and
    /// after a restart.
    fn load(&self, key: &Self::Key) -> impl Future<Output = Result<Self::State, CoreError>> + Send;

    /// Handles one message. Returning `Err` (or panicking) fails the actor,
    /// which is then restarted from its persisted state; ordinary request
    /// errors go back through the request's reply port instead.
    fn handle(
        &self,
        ctx: &Ctx<Self>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), CoreError>> + Send;

    /// The `actor.message` attribute of a call's trace span: which request
    /// `msg` is (`"chat"`, `"refresh"`). A static name, never the contents.
    fn message_kind(_msg: &Self::Msg) -> &'static str {
        "message"
    }

    /// Whether the actor may passivate now (a conversation mid-generation may not).
    fn is_idle(&self, _state: &Self::State) -> bool {
        true
    }

    /// Runs when the actor stops normally (passivation, shutdown); not after a panic.
    fn stopping(&self, _state: &mut Self::State) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Limits of one supervisor.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Restarts allowed per key within `restart_window` before the key stays down.
    pub max_restarts: u32,
    /// The window over which restarts of one key are counted.
    pub restart_window: Duration,
    /// How long a child may go without a message before it passivates;
    /// `None`: never. The server gives every kind the same value
    /// (`actors.idle_timeout_s`), connections included; jobs cap theirs at 10 s.
    pub idle_timeout: Option<Duration>,
    /// How long a [`Supervisor::call`] waits for its answer.
    pub call_timeout: Duration,
}

type Registry<A> = DashMap<<A as KeyedActor>::Key, ActorRef<ChildMsg<<A as KeyedActor>::Msg>>>;

/// The handle the rest of the core uses to reach actors of one kind.
pub(crate) struct Supervisor<A: KeyedActor> {
    registry: Arc<Registry<A>>,
    parent: ActorRef<ParentMsg<A>>,
    call_timeout: Duration,
}

impl<A: KeyedActor> Clone for Supervisor<A> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            parent: self.parent.clone(),
            call_timeout: self.call_timeout,
        }
    }
}

impl<A: KeyedActor> Supervisor<A> {
    /// Starts the parent actor of this kind.
    pub async fn start(behavior: A, config: SupervisorConfig) -> Result<Self, CoreError> {
        // Exported from the start, at 0 (adding 0 keeps another core's count).
        metrics::gauge!("chorus_actors", "kind" => A::KIND).increment(0.0);
        metrics::counter!("chorus_actor_restarts_total", "kind" => A::KIND).increment(0);
        let registry: Arc<Registry<A>> = Arc::new(DashMap::new());
        let parent = Parent {
            behavior: Arc::new(behavior),
            registry: registry.clone(),
            config: config.clone(),
        };
        let (parent, _) = Actor::spawn(None, parent, ())
            .await
            .map_err(|e| CoreError::Internal(format!("{} supervisor: {e}", A::KIND)))?;
        Ok(Self {
            registry,
            parent,
            call_timeout: config.call_timeout,
        })
    }

    /// The running actor for `key`, if there is one. Never starts one.
    pub fn get(&self, key: &A::Key) -> Option<ActorRef<ChildMsg<A::Msg>>> {
        self.registry
            .get(key)
            .map(|r| r.value().clone())
            .filter(child::is_running)
    }

    /// The actor for `key`, started (from its persisted state) if needed.
    pub async fn get_or_start(
        &self,
        key: &A::Key,
    ) -> Result<ActorRef<ChildMsg<A::Msg>>, CoreError> {
        if let Some(actor) = self.get(key) {
            return Ok(actor);
        }
        let (tx, rx) = oneshot::channel();
        self.parent
            .send_message(ParentMsg::Start(key.clone(), tx.into()))
            .map_err(|_| CoreError::Unavailable(format!("{} supervisor", A::KIND)))?;
        match tokio::time::timeout(self.call_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CoreError::Unavailable(format!("{} supervisor", A::KIND))),
            Err(_) => Err(CoreError::Timeout(format!("starting {}", A::KIND))),
        }
    }

    /// Sends a request to the actor for `key` and waits for its answer.
    /// Traced (while traces are exported) as an `actor.call` span from the
    /// send to the answer; the actor handles the message inside it.
    pub async fn call<R: Send + 'static>(
        &self,
        key: &A::Key,
        request: impl FnOnce(RpcReplyPort<R>) -> A::Msg,
    ) -> Result<R, CoreError> {
        let (tx, rx) = oneshot::channel();
        let msg = request(tx.into());
        let span = tracing::info_span!(
            target: crate::trace_context::TARGET,
            "actor.call",
            otel.kind = "internal",
            actor.kind = A::KIND,
            actor.message = A::message_kind(&msg),
        );
        let answer = async {
            self.deliver(key, ChildMsg::Traced(msg, span.clone()))
                .await?;
            match tokio::time::timeout(self.call_timeout, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                // The actor dropped the request: it failed while handling it.
                Ok(Err(_)) => Err(CoreError::Unavailable(A::KIND.to_string())),
                Err(_) => Err(CoreError::Timeout(A::KIND.to_string())),
            }
        };
        answer.instrument(span.clone()).await
    }

    /// Sends a message without waiting for an answer; the actor handles it
    /// in the caller's span.
    pub async fn cast(&self, key: &A::Key, msg: A::Msg) -> Result<(), CoreError> {
        self.deliver(key, ChildMsg::Traced(msg, tracing::Span::current()))
            .await
    }

    /// Puts `msg` in the mailbox of `key`'s actor. An actor that stopped
    /// (passivated) between the registry read and the send hands the message
    /// back; it then goes to a freshly started actor.
    async fn deliver(&self, key: &A::Key, mut msg: ChildMsg<A::Msg>) -> Result<(), CoreError> {
        for _ in 0..3 {
            let actor = self.get_or_start(key).await?;
            match actor.send_message(msg) {
                Ok(()) => return Ok(()),
                Err(MessagingErr::SendErr(back)) => msg = back,
                Err(_) => break,
            }
        }
        Err(CoreError::Unavailable(A::KIND.to_string()))
    }

    /// Stops `key`'s actor after what is already queued (it runs
    /// [`KeyedActor::stopping`]); for kinds whose life ends with something
    /// outside, like a closed socket.
    pub fn stop(&self, key: &A::Key) {
        if let Some(actor) = self.registry.get(key).map(|r| r.value().clone())
            && actor.drain().is_err()
        {
            actor.stop(Some("stopped".into()));
        }
    }

    /// Number of live actors of this kind (the admin dashboard).
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no actor of this kind is live.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.registry.is_empty()
    }

    /// Whether the parent actor is still running.
    pub fn is_up(&self) -> bool {
        matches!(self.parent.get_status(), ractor::ActorStatus::Running)
    }

    /// Stops every child (each runs [`KeyedActor::stopping`]) and then the parent.
    pub async fn shutdown(&self, grace: Duration) {
        self.parent
            .stop_children_and_wait(Some("shutdown".into()), Some(grace))
            .await;
        // The parent may already be gone; nothing is left to stop then.
        let _ = self
            .parent
            .stop_and_wait(Some("shutdown".into()), Some(grace))
            .await;
        self.registry.clear();
    }
}
