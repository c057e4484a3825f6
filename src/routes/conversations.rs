//! Conversations and messages (API.md 3).

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::conversations::Conversations;
use chorus_actors::conversations::{ConversationPatch, ListFilter, NewConversation};
use chorus_actors::model::{Conversation, Message};
use chorus_actors::model::{JsonText, MessageRole};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, double_option};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(messages, append))
        .routes(routes!(tagged))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Uuid,
    pub title: String,
    pub persona_id: Option<Uuid>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(value_type = Vec<Object>)]
    pub tags: Vec<Value>,
    pub message_count: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The project it belongs to; `null` for none.
    pub project_id: Option<Uuid>,
}

/// A conversation with its tags resolved (tags deleted since are left out).
pub fn present(state: &AppState, c: Conversation) -> Result<ConversationView, ApiError> {
    let catalog = state.core.catalog();
    let tags = c
        .tag_ids
        .iter()
        .filter_map(|id| catalog.tag(c.user_id, *id).ok())
        .map(|t| serde_json::to_value(super::tags::TagView::from(t)).unwrap_or_default())
        .collect();
    Ok(ConversationView {
        tags,
        ..c.try_into()?
    })
}

impl TryFrom<Conversation> for ConversationView {
    type Error = ApiError;

    fn try_from(c: Conversation) -> Result<Self, ApiError> {
        Ok(Self {
            id: c.id,
            title: c.title,
            persona_id: c.persona_id,
            provider: c.provider,
            model: c.model,
            system_prompt: c.system_prompt,
            metadata: c.metadata_json.parse()?,
            tags: Vec::new(),
            message_count: c.message_count,
            created_at: rfc3339_ms(c.created_at),
            updated_at: rfc3339_ms(c.updated_at),
            project_id: c.project_id,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: &'static str,
    pub content: String,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    /// `complete`, `cancelled` or `failed`.
    pub status: &'static str,
    pub created_at: String,
}

impl TryFrom<Message> for MessageView {
    type Error = ApiError;

    fn try_from(m: Message) -> Result<Self, ApiError> {
        Ok(Self {
            id: m.id,
            conversation_id: m.conversation_id,
            role: m.role.as_str(),
            content: m.content,
            metadata: m.metadata_json.parse()?,
            usage: m.usage.map(|u| u.to_json()),
            status: m.status.as_str(),
            created_at: rfc3339_ms(m.created_at),
        })
    }
}

/// `metadata` must be a JSON object; it is stored as its text.
fn metadata_text(metadata: Option<Value>) -> Result<Option<JsonText>, ApiError> {
    match metadata {
        None => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(JsonText::from_value(&v))),
        Some(_) => Err(ApiError::validation("metadata", "must be a JSON object")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewConversationBody {
    #[schema(schema_with = fields::name_or_null)]
    pub title: Option<String>,
    pub persona_id: Option<Uuid>,
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<String>,
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<String>,
    #[schema(schema_with = fields::prompt_or_null)]
    pub system_prompt: Option<String>,
    #[schema(schema_with = fields::metadata_or_null)]
    pub metadata: Option<Value>,
    /// One of your live projects (422 otherwise).
    pub project_id: Option<Uuid>,
}

/// Starts a conversation.
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = NewConversationBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ConversationView), (status = 422, description = "invalid field"),
        (status = 429, description = "limits.max_conversations_per_user reached")))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<NewConversationBody>,
) -> Result<(StatusCode, Json<ConversationView>), ApiError> {
    let new = NewConversation {
        title: body.title,
        persona_id: body.persona_id,
        provider: body.provider,
        model: body.model,
        system_prompt: body.system_prompt,
        metadata_json: metadata_text(body.metadata)?,
        project_id: body.project_id,
    };
    let conv = state.core.conversations().create(me.user.id, new).await?;
    Ok((StatusCode::CREATED, Json(present(&state, conv)?)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Matches the title, case-insensitive.
    pub search: Option<String>,
    pub tag_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    /// Only conversations in this project.
    pub project_id: Option<Uuid>,
}

/// The caller's conversations, most recently updated first.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ConversationView>)))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let filter = ListFilter {
        search: q.search,
        tag_id: q.tag_id,
        persona_id: q.persona_id,
        project_id: q.project_id,
    };
    Ok(Json(page(&state, me.user.id, &filter, skip, limit)?))
}

/// A page of `user_id`'s conversations matching `filter`, tags resolved.
pub fn page(
    state: &AppState,
    user_id: Uuid,
    filter: &ListFilter,
    skip: usize,
    limit: usize,
) -> Result<Page<ConversationView>, ApiError> {
    let (items, total) = state
        .core
        .conversations()
        .list(user_id, filter, skip, limit)?;
    Ok(Page::new(
        items
            .into_iter()
            .map(|c| present(state, c))
            .collect::<Result<_, _>>()?,
        total,
        skip,
        limit,
    ))
}

/// One conversation.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationView), (status = 404, description = "no such conversation of yours")))]
async fn get_one(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ConversationView>, ApiError> {
    Ok(Json(present(
        &state,
        state.core.conversations().get(me.user.id, id)?,
    )?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchBody {
    #[schema(schema_with = fields::name_or_null)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub persona_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::prompt_or_null)]
    pub system_prompt: Option<Option<String>>,
    #[schema(schema_with = fields::metadata_or_null)]
    pub metadata: Option<Value>,
    /// Moves it to one of your live projects (422 otherwise); `null` takes it out.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
}

/// Changes a conversation's title, persona, provider, model, system prompt, metadata or project.
#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)), request_body = PatchBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationView), (status = 404, description = "no such conversation of yours")))]
async fn patch(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PatchBody>,
) -> Result<Json<ConversationView>, ApiError> {
    let patch = ConversationPatch {
        title: body.title,
        persona_id: body.persona_id,
        provider: body.provider,
        model: body.model,
        system_prompt: body.system_prompt,
        metadata_json: metadata_text(body.metadata)?,
        project_id: body.project_id,
    };
    let conv = state
        .core
        .conversations()
        .update(me.user.id, id, patch)
        .await?;
    Ok(Json(present(&state, conv)?))
}

/// Deletes a conversation and its messages.
#[utoipa::path(delete, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such conversation of yours")))]
async fn delete(
    State(conversations): State<Conversations>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    conversations.delete(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation's messages, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path), PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<MessageView>), (status = 404, description = "no such conversation of yours")))]
async fn messages(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = state
        .core
        .conversations()
        .messages(me.user.id, id, skip, limit)?;
    Ok(Json(Page::new(
        items
            .into_iter()
            .map(MessageView::try_from)
            .collect::<Result<_, _>>()?,
        total,
        skip,
        limit,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AppendBody {
    /// `user`, `assistant` or `system`.
    #[schema(schema_with = fields::role)]
    pub role: MessageRole,
    #[schema(schema_with = fields::content)]
    pub content: String,
    #[schema(schema_with = fields::metadata_or_null)]
    pub metadata: Option<Value>,
}

/// Appends a message (calls no model).
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path)), request_body = AppendBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = MessageView), (status = 404, description = "no such conversation of yours"), (status = 422, description = "invalid field")))]
async fn append(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AppendBody>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let metadata = metadata_text(body.metadata)?.unwrap_or_default();
    let message = state
        .core
        .conversations()
        .append(me.user.id, id, body.role, body.content, metadata)
        .await?;
    Ok((StatusCode::CREATED, Json(message.try_into()?)))
}

/// The conversations carrying a tag.
#[utoipa::path(get, path = "/tags/{id}/conversations", tag = "tags", params(("id" = Uuid, Path), PageQuery),
    security(("bearer" = []), ("cookie" = [])), responses((status = 404, description = "no such tag of yours"), (status = 200, body = Page<ConversationView>)))]
async fn tagged(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    state.core.catalog().tag(me.user.id, id)?;
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let filter = ListFilter {
        tag_id: Some(id),
        ..Default::default()
    };
    Ok(Json(page(&state, me.user.id, &filter, skip, limit)?))
}
