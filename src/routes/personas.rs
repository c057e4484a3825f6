//! Personas (API.md 3): reusable system prompts and model settings.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::conversations::Catalog;
use chorus_actors::model::{Persona, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, whole};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(persona_tags))
        .routes(routes!(get_one, replace, delete))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ModelSettings {
    pub temperature: Option<f32>,
    #[serde(default, deserialize_with = "whole")]
    #[schema(schema_with = fields::count_or_null)]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PersonaBody {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::text_or_null)]
    pub description: Option<String>,
    #[schema(schema_with = fields::prompt_or_null)]
    pub system_prompt: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::object")]
    pub model_settings: ModelSettings,
    #[schema(schema_with = fields::url_or_null)]
    pub avatar: Option<String>,
    #[serde(default)]
    #[schema(schema_with = fields::names)]
    pub tags: Vec<String>,
    #[schema(schema_with = fields::text_or_null)]
    pub sample_greeting: Option<String>,
    pub is_active: Option<bool>,
}

/// A tag a persona carries: free text, not a tag of `/tags` (a named
/// schema, so tools do not take the list for tag ids).
pub struct PersonaTag;

impl utoipa::PartialSchema for PersonaTag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        fields::raw(serde_json::json!({"type": "string"})).into()
    }
}

impl ToSchema for PersonaTag {}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonaView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub system_prompt: Option<String>,
    pub model_settings: ModelSettings,
    pub avatar: Option<String>,
    pub tags: Vec<String>,
    pub sample_greeting: Option<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Persona> for PersonaView {
    fn from(p: Persona) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            system_prompt: p.system_prompt,
            model_settings: ModelSettings {
                temperature: p.temperature,
                max_tokens: p.max_tokens,
            },
            avatar: p.avatar,
            tags: p.tags,
            sample_greeting: p.sample_greeting,
            is_active: p.is_active,
            created_at: rfc3339_ms(p.created_at),
            updated_at: rfc3339_ms(p.updated_at),
        }
    }
}

fn persona(id: Uuid, user_id: Uuid, body: PersonaBody) -> Persona {
    let now = now_ms();
    Persona {
        id,
        user_id,
        name: body.name,
        description: body.description,
        system_prompt: body.system_prompt,
        temperature: body.model_settings.temperature,
        max_tokens: body.model_settings.max_tokens,
        avatar: body.avatar,
        tags: body.tags,
        sample_greeting: body.sample_greeting,
        is_active: body.is_active.unwrap_or(true),
        created_at: now,
        updated_at: now,
    }
}

/// Creates a persona.
#[utoipa::path(post, path = "/personas", tag = "personas", request_body = PersonaBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = PersonaView), (status = 422, description = "invalid field"),
        (status = 429, description = "limits.max_personas_per_user reached")))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<PersonaBody>,
) -> Result<(StatusCode, Json<PersonaView>), ApiError> {
    let saved = state
        .core
        .catalog()
        .save_persona(persona(Uuid::now_v7(), me.user.id, body))
        .await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// The caller's personas, newest first.
#[utoipa::path(get, path = "/personas", tag = "personas", params(PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<PersonaView>)))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<PersonaView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = state
        .core
        .catalog()
        .personas_page(me.user.id, skip, limit)?;
    Ok(Json(Page::new(
        items.into_iter().map(Into::into).collect(),
        total,
        skip,
        limit,
    )))
}

/// The distinct tags of the caller's personas.
#[utoipa::path(get, path = "/personas/tags", tag = "personas", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [PersonaTag])))]
async fn persona_tags(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Json<Vec<String>>, ApiError> {
    let tags: BTreeSet<String> = state
        .core
        .catalog()
        .personas(me.user.id)?
        .into_iter()
        .flat_map(|p| p.tags)
        .collect();
    Ok(Json(tags.into_iter().collect()))
}

/// One persona.
#[utoipa::path(get, path = "/personas/{id}", tag = "personas", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonaView), (status = 404, description = "no such persona of yours")))]
async fn get_one(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PersonaView>, ApiError> {
    Ok(Json(catalog.persona(me.user.id, id)?.into()))
}

/// Replaces a persona.
#[utoipa::path(put, path = "/personas/{id}", tag = "personas", params(("id" = Uuid, Path)), request_body = PersonaBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PersonaView), (status = 404, description = "no such persona of yours")))]
async fn replace(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PersonaBody>,
) -> Result<Json<PersonaView>, ApiError> {
    state.core.catalog().persona(me.user.id, id)?;
    Ok(Json(
        state
            .core
            .catalog()
            .save_persona(persona(id, me.user.id, body))
            .await?
            .into(),
    ))
}

/// Deletes a persona.
#[utoipa::path(delete, path = "/personas/{id}", tag = "personas", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such persona of yours")))]
async fn delete(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    catalog.delete_persona(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
