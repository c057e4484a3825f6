//! Conversations (API.md 3) and chat in them (4.1): the CRUD goes straight
//! to the store; chat goes through the conversation's actor, which owns the
//! generation lock. Another user's conversation is always `NotFound`.

mod actor;
mod catalog;
mod checks;
pub mod generation;
mod live;
mod prepare;
pub(crate) mod prompt;
mod recency;
mod stateless;
mod tables;
#[cfg(test)]
mod tests;
pub(crate) mod ticket;

use std::sync::Arc;

use uuid::Uuid;

pub use catalog::Catalog;
pub(crate) use checks::{check_content, resolve};
use checks::{check_settings, model_error};
pub use generation::{ChatParams, ChatStart};
pub use live::LiveGenerations;
pub use stateless::Stateless;
pub use tables::ConvTables;
pub use ticket::MAX_TICKET_ATTEMPTS;
pub(crate) use ticket::TicketChat;

use crate::error::CoreError;
use crate::llm::LlmError;
use crate::model::{
    Conversation, JsonText, Message, MessageRole, MessageStatus, User, limits, now_ms,
};
use crate::projects::ProjectEvent;
use crate::replay::Generation;
use crate::store::Store;
use crate::supervisor::{Supervisor, SupervisorConfig};
use actor::{ConversationActor, ConversationMsg};

/// The fields of a new conversation.
#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    /// Shown in lists, 1-255 characters; `None` gives `New conversation`.
    pub title: Option<String>,
    /// The persona whose prompt and model settings apply; `None` for none.
    pub persona_id: Option<Uuid>,
    /// Provider for its chats unless a request names one; `None` for the default.
    pub provider: Option<String>,
    /// Model for its chats, one the provider allows; `None` for the provider's default.
    pub model: Option<String>,
    /// Overrides the persona's system prompt; at most 32 KiB.
    pub system_prompt: Option<String>,
    /// A JSON object, at most 16 KiB as text; `None` stores `{}`.
    pub metadata_json: Option<JsonText>,
    /// One of the user's live projects; `None` for none.
    pub project_id: Option<Uuid>,
}

/// A partial update: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    /// A new title, 1-255 characters; `None` keeps it.
    pub title: Option<String>,
    /// The persona to use; `Some(None)` detaches it.
    pub persona_id: Option<Option<Uuid>>,
    /// Provider for its chats; `Some(None)` goes back to the default.
    pub provider: Option<Option<String>>,
    /// Model for its chats, one the (new or kept) provider allows; `Some(None)` for its default.
    pub model: Option<Option<String>>,
    /// Overrides the persona's prompt, at most 32 KiB; `Some(None)` falls back to it.
    pub system_prompt: Option<Option<String>>,
    /// A JSON object as text replacing the old one whole, at most 16 KiB; `None` keeps it.
    pub metadata_json: Option<JsonText>,
    /// Moves it to one of the user's live projects; `Some(None)` takes it out of its project.
    pub project_id: Option<Option<Uuid>>,
}

/// Filters of the conversation list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Case-insensitive substring of the title; `None` or empty matches all.
    pub search: Option<String>,
    /// Only conversations carrying this tag.
    pub tag_id: Option<Uuid>,
    /// Only conversations using this persona.
    pub persona_id: Option<Uuid>,
    /// Only conversations in this project.
    pub project_id: Option<Uuid>,
}

/// Every user's conversations: CRUD on the store, chat through their actors. Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    deps: Arc<generation::ChatDeps>,
    store: Store,
    tables: ConvTables,
    actors: Supervisor<ConversationActor>,
}

impl Conversations {
    /// Starts the conversation actors' supervisor, first repairing message counts after a crash.
    pub async fn start(
        store: Store,
        deps: generation::ChatDeps,
        actors: SupervisorConfig,
    ) -> Result<Self, CoreError> {
        let tables = deps.tables.clone();
        if store.opened_after_crash() {
            // A crash between a message and its count leaves the count stale.
            let seen = tables.repair_all_counts()?;
            tracing::info!(conversations = seen, "checked message counts after a crash");
        }
        tables.ensure_total()?;
        let deps = Arc::new(deps);
        let actors = Supervisor::start(ConversationActor::new(deps.clone()), actors).await?;
        Ok(Self {
            deps,
            store,
            tables,
            actors,
        })
    }

    /// The conversation and message tables, shared with the generation tasks.
    pub fn tables(&self) -> &ConvTables {
        &self.tables
    }

    /// The conversation actors' supervisor (readiness, metrics, shutdown).
    pub(crate) fn actors(&self) -> &Supervisor<ConversationActor> {
        &self.actors
    }

    /// Generations running in conversations now (stateless ones not counted).
    pub fn active_generations(&self) -> usize {
        self.deps.live.count()
    }

    /// Creates a conversation for `user_id` after checking each field's cap and the model.
    pub async fn create(
        &self,
        user_id: Uuid,
        new: NewConversation,
    ) -> Result<Conversation, CoreError> {
        let title = new.title.unwrap_or_else(|| "New conversation".into());
        limits::name("title", &title)?;
        check_settings(
            new.provider.as_deref(),
            new.model.as_deref(),
            new.system_prompt.as_deref(),
            new.metadata_json.as_ref().map(JsonText::as_str),
        )?;
        self.check_provider(new.provider.as_deref())?;
        self.check_stored_model(new.provider.as_deref(), new.model.as_deref())?;
        if let Some(project) = new.project_id {
            self.deps.projects.require_live(user_id, project)?;
        }
        let now = now_ms();
        let conv = Conversation {
            id: Uuid::now_v7(),
            user_id,
            title,
            persona_id: new.persona_id,
            provider: new.provider,
            model: new.model,
            system_prompt: new.system_prompt,
            metadata_json: new.metadata_json.unwrap_or_default(),
            tag_ids: Vec::new(),
            message_count: 0,
            created_at: now,
            updated_at: now,
            project_id: new.project_id,
        };
        self.tables.insert_new(&self.store, &conv).await?;
        if let Some(project) = conv.project_id {
            self.deps
                .projects
                .announce(project, ProjectEvent::ConversationAdded(conv.id));
        }
        Ok(conv)
    }

    /// `user_id`'s conversation `id`, or `NotFound`.
    pub fn get(&self, user_id: Uuid, id: Uuid) -> Result<Conversation, CoreError> {
        self.tables
            .conversations
            .get(&id)?
            .filter(|c| c.user_id == user_id)
            .ok_or_else(|| CoreError::not_found("conversation", id))
    }

    /// A page of `user_id`'s conversations, most recently updated first.
    pub fn list(
        &self,
        user_id: Uuid,
        filter: &ListFilter,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Conversation>, usize), CoreError> {
        if filter.search.as_deref().is_none_or(str::is_empty)
            && filter.tag_id.is_none()
            && filter.persona_id.is_none()
            && filter.project_id.is_none()
        {
            return self.tables.recent_page(user_id, skip, limit);
        }
        let needle = filter
            .search
            .as_deref()
            .map(str::to_lowercase)
            .filter(|s| !s.is_empty());
        let mut items = Vec::new();
        let mut total = 0;
        for id in self.tables.ids_by_recency(user_id) {
            let Some(conv) = self.tables.conversations.get(&id)? else {
                continue;
            };
            let hit = needle
                .as_deref()
                .is_none_or(|n| conv.title.to_lowercase().contains(n))
                && filter.tag_id.is_none_or(|t| conv.tag_ids.contains(&t))
                && filter.persona_id.is_none_or(|p| conv.persona_id == Some(p))
                && filter.project_id.is_none_or(|p| conv.project_id == Some(p));
            if hit {
                if total >= skip && items.len() < limit {
                    items.push(conv);
                }
                total += 1;
            }
        }
        Ok((items, total))
    }

    /// Applies `patch` to `user_id`'s conversation `id`; it becomes the most recently updated.
    pub async fn update(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: ConversationPatch,
    ) -> Result<Conversation, CoreError> {
        let current = self.get(user_id, id)?;
        if let Some(title) = &patch.title {
            limits::name("title", title)?;
        }
        check_settings(
            patch.provider.as_ref().and_then(Option::as_deref),
            patch.model.as_ref().and_then(Option::as_deref),
            patch.system_prompt.as_ref().and_then(Option::as_deref),
            patch.metadata_json.as_ref().map(JsonText::as_str),
        )?;
        if let Some(Some(provider)) = &patch.provider {
            self.check_provider(Some(provider))?;
        }
        if let Some(Some(model)) = &patch.model {
            let provider = match &patch.provider {
                Some(p) => p.as_deref(),
                None => current.provider.as_deref(),
            };
            self.check_stored_model(provider, Some(model))?;
        }
        if let Some(Some(project)) = patch.project_id {
            self.deps.projects.require_live(user_id, project)?;
        }
        let t = &self.tables;
        let guard = t.lock(&id);
        let updated = self
            .store
            .transaction_unflushed(&[&t.conversations], |tx| {
                let Some(mut c) = tx.get(&t.conversations, &id)? else {
                    return crate::store::Tx::abort(crate::store::StoreError::Conflict(
                        "conversation was deleted".into(),
                    ));
                };
                if let Some(v) = &patch.title {
                    c.title = v.clone();
                }
                if let Some(v) = patch.persona_id {
                    c.persona_id = v;
                }
                if let Some(v) = &patch.provider {
                    c.provider = v.clone();
                }
                if let Some(v) = &patch.model {
                    c.model = v.clone();
                }
                if let Some(v) = &patch.system_prompt {
                    c.system_prompt = v.clone();
                }
                if let Some(v) = &patch.metadata_json {
                    c.metadata_json = v.clone();
                }
                if let Some(v) = patch.project_id {
                    c.project_id = v;
                }
                let old = c.updated_at;
                t.touch_in(tx, &mut c, now_ms())?;
                Ok((c, old))
            })?;
        let (updated, old) = updated;
        t.moved(&updated, old);
        drop(guard);
        self.store.commit().await?;
        if let Some(project) = updated.project_id
            && current.project_id != Some(project)
        {
            self.deps
                .projects
                .announce(project, ProjectEvent::ConversationAdded(id));
        }
        Ok(updated)
    }

    /// Deletes a conversation and its messages.
    pub async fn delete(&self, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        let conv = self.get(user_id, id)?;
        if self.actors.get(&id).is_some() {
            // A generation running in it stops (and its answer goes nowhere).
            let _ = self.actors.call(&id, ConversationMsg::Cancel).await;
        }
        self.tables.remove(&self.store, conv.user_id, id)?;
        self.store.commit().await?;
        Ok(())
    }

    /// A page of a conversation's messages, oldest first, and their total.
    pub fn messages(
        &self,
        user_id: Uuid,
        id: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Message>, usize), CoreError> {
        let conv = self.get(user_id, id)?;
        let items = self.tables.messages_page(id, skip, limit)?;
        Ok((items, conv.message_count as usize))
    }

    /// One message of a conversation the user owns.
    pub fn message(&self, user_id: Uuid, id: Uuid, message_id: Uuid) -> Result<Message, CoreError> {
        self.get(user_id, id)?;
        self.tables
            .messages
            .get(&(id, message_id))?
            .ok_or_else(|| CoreError::not_found("message", message_id))
    }

    /// Appends a message without calling any model.
    pub async fn append(
        &self,
        user_id: Uuid,
        id: Uuid,
        role: MessageRole,
        content: String,
        metadata_json: JsonText,
    ) -> Result<Message, CoreError> {
        check_content(&content)?;
        limits::metadata("metadata", metadata_json.as_str())?;
        let message = Message {
            id: Uuid::now_v7(),
            conversation_id: id,
            role,
            content,
            metadata_json,
            usage: None,
            status: MessageStatus::Complete,
            created_at: now_ms(),
        };
        // The owner is checked in the append's own read of the record.
        self.tables
            .append_by(&self.store, &message, Some(user_id))
            .await?
            .ok_or_else(|| CoreError::not_found("conversation", id))?;
        Ok(message)
    }

    /// A provider a request names must be configured: 422 naming
    /// `provider` (empty means the default). One stored earlier that the
    /// configuration no longer has is the server's fault: 503 when used.
    pub(crate) fn check_provider(&self, provider: Option<&str>) -> Result<(), CoreError> {
        match provider {
            Some(name) if !name.is_empty() && self.deps.llm.spec(name).is_none() => Err(
                CoreError::validation("provider", format!("no provider {name:?} is configured")),
            ),
            _ => Ok(()),
        }
    }

    /// A model to be stored on a conversation: one its provider allows.
    fn check_stored_model(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(), CoreError> {
        match self.deps.llm.resolve(provider, model) {
            Err(e @ LlmError::UnknownModel { .. }) => Err(model_error(e)),
            _ => Ok(()),
        }
    }

    /// The provider and model a chat will use; a model the provider does
    /// not allow is 422 naming `model`. Every chat route (HTTP, WebSocket,
    /// tickets) goes through here.
    pub fn resolve(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(String, String), CoreError> {
        resolve(&self.deps.llm, provider, model)
    }

    /// Starts a generation: checks ownership, then the actor checks the
    /// model, reserves quota and takes the lock.
    pub async fn chat(
        &self,
        user: Arc<User>,
        id: Uuid,
        params: ChatParams,
    ) -> Result<Arc<Generation>, CoreError> {
        self.get(user.id, id)?;
        params.validate()?;
        self.check_provider(params.provider.as_deref())?;
        let start = Box::new(ChatStart { user, params });
        let generation = self
            .actors
            .call(&id, |reply| ConversationMsg::Chat(start, reply))
            .await??;
        self.deps.channels.stream_generation(id, &generation);
        Ok(generation)
    }

    /// Cancels the running generation; whether there was one.
    pub async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<bool, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, ConversationMsg::Cancel).await
    }

    /// The running generation, or the last one within the replay window.
    pub async fn attach(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Arc<Generation>>, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, ConversationMsg::Attach).await
    }
}
