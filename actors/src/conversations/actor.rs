//! ConversationActor: one per conversation. It owns the generation lock
//! (the check and the take are one message, so two chats can never both
//! pass), starts each generation in a task of its own so the mailbox stays
//! responsive, and keeps the last generation replayable for the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::RpcReplyPort;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::generation::{self, ChatDeps, ChatStart};
use crate::conversations::prompt;
use crate::error::{CoreError, ErrorKind};
use crate::model::{Conversation, Message, MessageRole, MessageStatus, Persona, now_ms};
use crate::replay::{GenData, Generation, Started};
use crate::supervisor::{Ctx, KeyedActor};

pub(crate) enum ConversationMsg {
    /// Takes the lock and starts a generation, or answers `Busy`.
    Chat(
        Box<ChatStart>,
        RpcReplyPort<Result<Arc<Generation>, CoreError>>,
    ),
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

    /// Checks the model, reserves quota, persists the user's message and
    /// starts the generation task. Nothing is stored for a refused chat.
    async fn start(&self, ctx: &Ctx<Self>, start: ChatStart) -> Result<Running, CoreError> {
        let deps = &self.deps;
        let conversation_id = *ctx.key();
        let conv = deps
            .tables
            .conversations
            .get(&conversation_id)?
            .ok_or_else(|| CoreError::not_found("conversation", conversation_id))?;
        let provider = start.params.provider.clone().or(conv.provider.clone());
        let model = start.params.model.clone().or(conv.model.clone());
        let (provider, model) =
            crate::conversations::resolve(&deps.llm, provider.as_deref(), model.as_deref())?;
        let history = deps
            .tables
            .recent_messages(conversation_id, deps.context_messages)?;
        // An unreadable persona leaves no request to make: the chat fails.
        let call = match self.persona(&conv) {
            Ok(persona) => {
                let mut request = prompt::request(
                    deps,
                    &conv,
                    &start.params,
                    persona.as_ref(),
                    &history,
                    model.clone(),
                );
                let reservation = deps.reserve(&start.user, &request)?;
                reservation.clamp(&mut request);
                Some((request, reservation))
            }
            Err(_) => None,
        };
        let generation = self
            .begin(conversation_id, &start.params.content, &provider, &model)
            .await?;
        let mailbox = ctx.mailbox();
        let ended = move |id| {
            mailbox.send(ConversationMsg::Ended(id));
        };
        let task = match call {
            Some((request, reservation)) => tokio::spawn(generation::run(
                deps.clone(),
                generation.clone(),
                reservation,
                provider,
                request,
                ended,
            )),
            None => {
                let generation = generation.clone();
                tokio::spawn(async move {
                    let message = "the conversation's persona could not be read";
                    generation::fail_at_once(&generation, message, ended);
                })
            }
        };
        Ok(Running { generation, task })
    }

    /// Persists the user's message (durable before the provider hears of
    /// it) and opens the generation with its `start` event.
    async fn begin(
        &self,
        conversation_id: Uuid,
        content: &str,
        provider: &str,
        model: &str,
    ) -> Result<Arc<Generation>, CoreError> {
        let user_message = Message {
            id: Uuid::now_v7(),
            conversation_id,
            role: MessageRole::User,
            content: content.to_string(),
            metadata_json: "{}".into(),
            usage: None,
            status: MessageStatus::Complete,
            created_at: now_ms(),
        };
        self.deps
            .tables
            .append(&self.deps.store, &user_message)
            .await?;
        let generation = Generation::new(Uuid::now_v7(), user_message.id, Some(conversation_id));
        generation.push(GenData::Start(Started {
            message_id: generation.message_id,
            user_message_id: Some(user_message.id),
            provider: provider.to_string(),
            model: model.to_string(),
        }));
        Ok(generation)
    }

    /// The conversation's persona: `None` if it has none or it was deleted;
    /// an error (logged) if the store could not read it.
    fn persona(&self, conv: &Conversation) -> Result<Option<Persona>, CoreError> {
        let Some(id) = conv.persona_id else {
            return Ok(None);
        };
        match self.deps.catalog.persona(conv.user_id, id) {
            Ok(persona) => Ok(Some(persona)),
            Err(CoreError::NotFound { .. }) => Ok(None),
            Err(e) => {
                tracing::error!(error = %e, conversation_id = %conv.id, persona_id = %id, "persona unreadable: the chat fails");
                Err(e)
            }
        }
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
                let answer = match self.start(ctx, *start).await {
                    Ok(running) => {
                        let generation = running.generation.clone();
                        state.running = Some(running);
                        Ok(generation)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
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
