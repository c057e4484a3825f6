//! The slow start of a conversation chat, in the generation's own task so
//! the ConversationActor's mailbox never waits on it: the history and the
//! persona are read, documents retrieved into the prompt, quota reserved and
//! the user's message appended durably; then the chat is answered and the
//! generation runs. Nothing is stored for a chat refused here.

use std::sync::Arc;

use uuid::Uuid;

use super::generation::{self, ChatDeps, ChatStart};
use super::prompt;
use crate::error::CoreError;
use crate::llm::ChatRequest;
use crate::model::{Conversation, JsonText, Message, MessageRole, MessageStatus, Persona, now_ms};
use crate::replay::{GenData, Generation, Started};
use crate::usage::Reservation;

/// Where a chat's start is answered: the generation, or why it was refused.
pub(super) type ChatReply = ractor::RpcReplyPort<Result<Arc<Generation>, CoreError>>;

/// A chat whose lock is taken, before its first provider call.
pub(super) struct Prepare {
    /// What a generation needs from the core.
    pub(super) deps: Arc<ChatDeps>,
    /// The conversation, as read when the lock was taken.
    pub(super) conv: Conversation,
    /// The user and what they asked.
    pub(super) start: ChatStart,
    /// The provider that will answer.
    pub(super) provider: String,
    /// The model that will answer.
    pub(super) model: String,
}

impl Prepare {
    /// Prepares, answers `reply`, then runs the generation to its end;
    /// `ended` frees the lock (before a refusal is answered, so the caller's
    /// next chat finds it free).
    pub(super) async fn run(
        self,
        generation: Arc<Generation>,
        reply: ChatReply,
        ended: impl FnOnce(Uuid) + Send + 'static,
    ) {
        match self.open(&generation).await {
            Ok(Some((request, reservation))) => {
                let _ = reply.send(Ok(generation.clone()));
                let Prepare { deps, provider, .. } = self;
                generation::run(deps, generation, reservation, provider, request, ended).await;
            }
            Ok(None) => {
                let _ = reply.send(Ok(generation.clone()));
                let message = "the conversation's persona could not be read";
                generation::fail_at_once(&generation, message, ended);
            }
            Err(e) => {
                ended(generation.message_id);
                let _ = reply.send(Err(e));
            }
        }
    }

    /// The provider request and its reservation (`None` when the persona
    /// cannot be read: the chat then fails at once), with the user's message
    /// stored and the `start` event pushed.
    async fn open(
        &self,
        generation: &Generation,
    ) -> Result<Option<(ChatRequest, Reservation)>, CoreError> {
        let deps = &self.deps;
        let history = deps
            .tables
            .recent_messages(self.conv.id, deps.context_messages)?;
        let call = match self.persona() {
            Ok(persona) => {
                let mut request = prompt::request(
                    deps,
                    &self.conv,
                    &self.start.params,
                    persona.as_ref(),
                    &history,
                    self.model.clone(),
                );
                let reservation = deps.reserve(&self.start.user, &request)?;
                reservation.clamp(&mut request);
                Some((request, reservation))
            }
            // An unreadable persona leaves no request to make.
            Err(_) => None,
        };
        let user_message = Message {
            id: generation.user_message_id,
            conversation_id: self.conv.id,
            role: MessageRole::User,
            content: self.start.params.content.clone(),
            metadata_json: JsonText::empty_object(),
            usage: None,
            status: MessageStatus::Complete,
            created_at: now_ms(),
        };
        // Durable before the provider hears of it.
        deps.tables.append(&deps.store, &user_message).await?;
        generation.push(GenData::Start(Started {
            message_id: generation.message_id,
            user_message_id: Some(user_message.id),
            provider: self.provider.clone(),
            model: self.model.clone(),
        }));
        Ok(call)
    }

    /// The conversation's persona: `None` if it has none or it was deleted;
    /// an error (logged) if the store could not read it.
    fn persona(&self) -> Result<Option<Persona>, CoreError> {
        let conv = &self.conv;
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
