//! The child actor: runs one key's [`KeyedActor`] and passivates when idle.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
// tokio's clock, as ractor's timers use it: paused time in tests drives both.
use tokio::time::Instant;
use tracing::Instrument;

use super::{KeyedActor, ParentMsg};

/// A child's mailbox: the kind's own messages plus the idle check.
pub(crate) enum ChildMsg<M> {
    Work(M),
    /// A message handled inside the sender's span (an `actor.call` span
    /// for a call), so what the handler does and spawns joins its trace.
    Traced(M, tracing::Span),
    /// Sent to itself on a timer: passivates the child once it was quiet and idle long enough.
    IdleCheck,
}

/// What a handler knows about the actor it runs in.
pub struct Ctx<A: KeyedActor> {
    key: A::Key,
    myself: ActorRef<ChildMsg<A::Msg>>,
}

impl<A: KeyedActor> Ctx<A> {
    /// The key this actor serves.
    pub fn key(&self) -> &A::Key {
        &self.key
    }

    /// A handle a spawned task uses to report back to this actor.
    pub fn mailbox(&self) -> Mailbox<A> {
        Mailbox {
            actor: self.myself.clone(),
        }
    }
}

/// Sends messages to one actor, from a task it spawned.
pub struct Mailbox<A: KeyedActor> {
    actor: ActorRef<ChildMsg<A::Msg>>,
}

impl<A: KeyedActor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Self {
            actor: self.actor.clone(),
        }
    }
}

impl<A: KeyedActor> Mailbox<A> {
    /// Sends `msg`; false if the actor has stopped.
    pub fn send(&self, msg: A::Msg) -> bool {
        self.actor.send_message(ChildMsg::Work(msg)).is_ok()
    }
}

pub(super) fn is_running<M>(actor: &ActorRef<M>) -> bool {
    matches!(
        actor.get_status(),
        ractor::ActorStatus::Running | ractor::ActorStatus::Starting
    )
}

pub(super) struct Child<A: KeyedActor> {
    pub(super) behavior: Arc<A>,
    pub(super) idle_timeout: Option<Duration>,
}

impl<A: KeyedActor> Child<A> {
    /// Handles one of the kind's own messages inside `span`.
    async fn work(
        &self,
        state: &mut ChildState<A>,
        msg: A::Msg,
        span: tracing::Span,
    ) -> Result<(), crate::error::CoreError> {
        state.last_active = Instant::now();
        self.behavior
            .handle(&state.ctx, msg, &mut state.inner)
            .instrument(span)
            .await
    }
}

pub(super) struct ChildState<A: KeyedActor> {
    ctx: Ctx<A>,
    inner: A::State,
    /// When the last `Work` message arrived; drives passivation.
    last_active: Instant,
}

impl<A: KeyedActor> Actor for Child<A> {
    type Msg = ChildMsg<A::Msg>;
    type State = ChildState<A>;
    type Arguments = A::Key;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        key: A::Key,
    ) -> Result<Self::State, ActorProcessingErr> {
        let inner = self.behavior.load(&key).await?;
        if let Some(idle) = self.idle_timeout {
            myself.send_after(idle, || ChildMsg::IdleCheck);
        }
        Ok(ChildState {
            ctx: Ctx { key, myself },
            inner,
            last_active: Instant::now(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChildMsg::Work(msg) => self.work(state, msg, tracing::Span::none()).await?,
            ChildMsg::Traced(msg, span) => self.work(state, msg, span).await?,
            ChildMsg::IdleCheck => {
                let Some(idle) = self.idle_timeout else {
                    return Ok(());
                };
                let quiet = state.last_active.elapsed();
                if quiet >= idle && self.behavior.is_idle(&state.inner) {
                    // The parent takes us out of the registry first, then
                    // drains us: nothing already queued is lost, and no
                    // second actor starts for this key before we have stopped.
                    if let Some(parent) = myself.try_get_supervisor() {
                        let msg = ParentMsg::<A>::Idle(state.ctx.key.clone(), myself.get_id());
                        if parent.send_message(msg).is_err() {
                            myself.stop(Some("passivated".into()));
                        }
                    }
                } else {
                    let wait = idle.saturating_sub(quiet).max(idle / 4);
                    myself.send_after(wait, || ChildMsg::IdleCheck);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.behavior.stopping(&mut state.inner).await;
        Ok(())
    }
}
