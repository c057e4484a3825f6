//! ConversationActor: one per conversation. It owns the generation lock
//! (the check and the take are one message, so two chats can never both
//! pass), starts each generation in a task of its own so the mailbox stays
//! responsive, and keeps the last generation replayable for the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::RpcReplyPort;
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use super::generation::{ChatDeps, ChatStart};
use super::prepare::{ChatReply, Prepare};
use crate::error::{CoreError, ErrorKind};
use crate::replay::{GenData, Generation};
use crate::supervisor::{Ctx, KeyedActor};

pub(crate) enum ConversationMsg {
    /// Takes the lock and starts a generation, or answers `Busy`.
    Chat(Box<ChatStart>, ChatReply),
    /// Cancels the running generation; answers whether there was one.
    Cancel(RpcReplyPort<bool>),
    /// The running generation, or the last one while it is replayable.
    Attach(RpcReplyPort<Option<Arc<Generation>>>),
    /// From the generation task: it has persisted its answer and ended.
    Ended(Uuid),
}

pub(crate) struct ConversationActor {
    deps: Arc<ChatDeps>,
}

impl ConversationActor {
    pub(crate) fn new(deps: Arc<ChatDeps>) -> Self {
        Self { deps }
    }
}

struct Running {
    generation: Arc<Generation>,
    task: JoinHandle<()>,
}

pub struct ConversationState {
    /// The generation lock: `Some` while a generation runs.
    running: Option<Running>,
    /// The last finished generation and when it ended, for replay.
    last: Option<(Arc<Generation>, Instant)>,
}

impl ConversationActor {
    fn replayable(&self, state: &ConversationState) -> Option<Arc<Generation>> {
        if let Some(running) = &state.running {
            return Some(running.generation.clone());
        }
        state
            .last
            .as_ref()
            .filter(|(_, ended)| ended.elapsed() < self.deps.replay_window)
            .map(|(g, _)| g.clone())
    }

    /// Frees the lock of a generation that has ended even if its `Ended`
    /// message is still on the way: one that pushed its last event, or whose
    /// task died without one (then listeners get an `error` to end on).
    fn release_if_ended(&self, state: &mut ConversationState) {
        let refused = state
            .running
            .as_ref()
            .is_some_and(|r| r.task.is_finished() && !r.generation.started());
        if refused {
            // Refused before it started (its `Ended` is on the way): free.
            state.running = None;
            return;
        }
        let ended = state.running.as_ref().is_some_and(|r| {
            if r.task.is_finished() && !r.generation.is_finished() {
                r.generation.push(GenData::Error(
                    ErrorKind::Internal,
                    "the generation stopped unexpectedly".into(),
                ));
            }
            r.generation.is_finished()
        });
        if ended && let Some(done) = state.running.take() {
            state.last = Some((done.generation, Instant::now()));
        }
    }

    /// Takes the lock for a chat: checks the conversation and the model
    /// (fast reads), opens the generation and hands the slow part (history,
    /// retrieval, reservation, the durable append of the user's message) to
    /// a task of its own, which answers `reply`. The mailbox is free again
    /// at once, so a `cancel` never waits behind a disk flush.
    fn start(
        &self,
        ctx: &Ctx<Self>,
        start: ChatStart,
        reply: ChatReply,
    ) -> Result<Running, (CoreError, ChatReply)> {
        let deps = &self.deps;
        let conversation_id = *ctx.key();
        let conv = match deps.tables.conversations.get(&conversation_id) {
            Ok(Some(conv)) => conv,
            Ok(None) => return Err((CoreError::not_found("conversation", conversation_id), reply)),
            Err(e) => return Err((e.into(), reply)),
        };
        let provider = start.params.provider.clone().or(conv.provider.clone());
        let model = start.params.model.clone().or(conv.model.clone());
        let (provider, model) =
            match crate::conversations::resolve(&deps.llm, provider.as_deref(), model.as_deref()) {
                Ok(resolved) => resolved,
                Err(e) => return Err((e, reply)),
            };
        // Messages list in id order: the user's message comes first.
        let user_message_id = Uuid::now_v7();
        let generation = Generation::new(Uuid::now_v7(), user_message_id, Some(conversation_id));
        let mailbox = ctx.mailbox();
        let ended = move |id| {
            mailbox.send(ConversationMsg::Ended(id));
        };
        let prepare = Prepare {
            deps: deps.clone(),
            conv,
            start,
            provider,
            model,
        };
        // In the chat's `actor.call` span: the provider call and the store
        // commits of the generation join the request's trace.
        let (live, run) = (
            deps.live.start(),
            prepare.run(generation.clone(), reply, ended),
        );
        let task = tokio::spawn(
            async move {
                let _live = live;
                run.await
            }
            .in_current_span(),
        );
        Ok(Running { generation, task })
    }
}

impl KeyedActor for ConversationActor {
    type Key = Uuid;
    type Msg = ConversationMsg;
    type State = ConversationState;
    const KIND: &'static str = "conversations";

    async fn load(&self, id: &Uuid) -> Result<ConversationState, CoreError> {
        if !self.deps.tables.conversations.contains(id)? {
            return Err(CoreError::not_found("conversation", id));
        }
        Ok(ConversationState {
            running: None,
            last: None,
        })
    }

    fn message_kind(msg: &ConversationMsg) -> &'static str {
        match msg {
            ConversationMsg::Chat(..) => "chat",
            ConversationMsg::Cancel(_) => "cancel",
            ConversationMsg::Attach(_) => "attach",
            ConversationMsg::Ended(_) => "ended",
        }
    }

    async fn handle(
        &self,
        ctx: &Ctx<Self>,
        msg: ConversationMsg,
        state: &mut ConversationState,
    ) -> Result<(), CoreError> {
        match msg {
            ConversationMsg::Chat(start, reply) => {
                // A generation that pushed its last event holds the lock no
                // longer, even if its `Ended` is still on the way.
                self.release_if_ended(state);
                if state.running.is_some() {
                    let _ = reply.send(Err(CoreError::Busy(
                        "a generation is already running in this conversation".into(),
                    )));
                    return Ok(());
                }
                match self.start(ctx, *start, reply) {
                    Ok(running) => state.running = Some(running),
                    Err((e, reply)) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            ConversationMsg::Cancel(reply) => {
                self.release_if_ended(state);
                let running = state.running.as_ref();
                if let Some(r) = running {
                    r.generation.cancel.cancel();
                }
                let _ = reply.send(running.is_some());
            }
            ConversationMsg::Attach(reply) => {
                let _ = reply.send(self.replayable(state));
            }
            ConversationMsg::Ended(id) => {
                if state
                    .running
                    .as_ref()
                    .is_some_and(|r| r.generation.message_id == id)
                    && let Some(running) = state.running.take()
                    // A chat refused before it started leaves nothing to replay.
                    && running.generation.started()
                {
                    state.last = Some((running.generation, Instant::now()));
                }
            }
        }
        Ok(())
    }

    fn is_idle(&self, state: &ConversationState) -> bool {
        state.running.is_none()
            && state
                .last
                .as_ref()
                .is_none_or(|(_, ended)| ended.elapsed() >= self.deps.replay_window)
    }

    /// On shutdown: a generation still running is cancelled, which persists
    /// its partial answer as `cancelled`.
    async fn stopping(&self, state: &mut ConversationState) {
        if let Some(running) = state.running.take() {
            running.generation.cancel.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), running.task).await;
        }
    }
}
