//! ConversationActor: one per conversation. It owns the generation lock
//! (the check and the take are one message, so two chats can never both
//! pass), starts each generation in a task of its own so the mailbox stays
//! responsive, and keeps the last generation replayable for the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::RpcReplyPort;
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::conversations::generate::{self, ChatDeps, ChatStart};
use crate::error::CoreError;
use crate::generation::Generation;
use crate::llm::{ChatMessage, ChatRequest};
use crate::model::{Message, MessageStatus, now_ms};
use crate::supervisor::{Ctx, KeyedActor};

pub enum ConversationMsg {
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

pub struct ConversationActor {
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
                r.generation.push(
                    "error",
                    json!({ "code": "INTERNAL_ERROR", "message": "the generation stopped unexpectedly" }),
                );
            }
            r.generation.is_finished()
        });
        if ended && let Some(done) = state.running.take() {
            state.last = Some((done.generation, Instant::now()));
        }
    }

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
        let (provider, model) = deps
            .llm
            .resolve(provider.as_deref(), model.as_deref())
            .map_err(CoreError::Llm)?;
        let history = deps
            .tables
            .recent_messages(conversation_id, deps.context_messages)?;

        // The user's message is durable before the provider hears of it.
        let user_message = Message {
            id: Uuid::now_v7(),
            conversation_id,
            role: "user".into(),
            content: start.params.content.clone(),
            metadata_json: "{}".into(),
            usage: None,
            status: MessageStatus::Complete,
            created_at: now_ms(),
        };
        deps.tables.append(&deps.store, &user_message).await?;

        // A persona gives the system prompt and model settings unless the
        // conversation or the request sets its own.
        let persona = conv
            .persona_id
            .and_then(|p| deps.catalog.persona(conv.user_id, p).ok());
        let system = conv
            .system_prompt
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| persona.as_ref().and_then(|p| p.system_prompt.clone()));
        let system = with_documents(deps, &conv, &start.params.content, system);
        let mut messages = Vec::with_capacity(history.len() + 2);
        if let Some(system) = system.filter(|s| !s.is_empty()) {
            messages.push(ChatMessage::new("system", system));
        }
        // Empty answers (cancelled before their first token) would make
        // some providers (Anthropic) refuse every later request.
        messages.extend(
            history
                .iter()
                .filter(|m| !m.content.is_empty())
                .map(|m| ChatMessage::new(&m.role, m.content.clone())),
        );
        messages.push(ChatMessage::new("user", start.params.content.clone()));
        let request = ChatRequest {
            model: model.clone(),
            messages,
            temperature: start
                .params
                .temperature
                .or(persona.as_ref().and_then(|p| p.temperature)),
            max_tokens: start
                .params
                .max_tokens
                .or(persona.as_ref().and_then(|p| p.max_tokens)),
            top_p: start.params.top_p,
            stop: start.params.stop.clone(),
        };
        let generation = Generation::new(Uuid::now_v7(), user_message.id, Some(conversation_id));
        generation.push(
            "start",
            json!({
                "message_id": generation.message_id,
                "user_message_id": user_message.id,
                "conversation_id": conversation_id,
                "provider": provider,
                "model": model,
            }),
        );
        let mailbox = ctx.mailbox();
        let task = tokio::spawn(generate::run(
            deps.clone(),
            generation.clone(),
            start.user.clone(),
            provider,
            request,
            move |id| {
                mailbox.send(ConversationMsg::Ended(id));
            },
        ));
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

/// Adds the chunks of the conversation's `metadata.document_ids` that best
/// match the user's message to the system prompt (retrieval-augmented chat).
fn with_documents(
    deps: &ChatDeps,
    conv: &crate::model::Conversation,
    content: &str,
    system: Option<String>,
) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(&conv.metadata_json).unwrap_or_default();
    let ids: Vec<Uuid> = metadata["document_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    let chunks = match deps
        .documents
        .retrieve(conv.user_id, &ids, content, deps.context_chunks)
    {
        Ok(chunks) if !chunks.is_empty() => chunks,
        Ok(_) => return system,
        Err(e) => {
            tracing::warn!(error = %e, "document retrieval failed; chatting without it");
            return system;
        }
    };
    let excerpts: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{}] {c}", i + 1))
        .collect();
    let context = format!(
        "Excerpts from the user's documents that may help answer:\n\n{}",
        excerpts.join("\n\n")
    );
    Some(match system {
        Some(system) => format!("{system}\n\n{context}"),
        None => context,
    })
}
