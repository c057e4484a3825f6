//! Setting definitions (API.md 8): read by every signed-in user (they build
//! settings screens from them), written by admins. Their wire shapes and
//! the schemas shared with the plugin states' routes are in
//! `setting_types.rs` (re-exported here).

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chorus_actors::model::JsonText;
use chorus_actors::settings::{Caller, Settings};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
pub use super::setting_types::*;
use super::settings_audit::{as_json, audit, replace_audited};
use crate::auth::{Admin, CurrentUser};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, double_option, object_or_null};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, replace, patch, delete))
}

/// The caller as the settings see them.
pub fn caller(me: &CurrentUser) -> Caller {
    Caller {
        user_id: me.user.id,
        is_admin: me.user.role.is_admin(),
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// # `POST /api/v1/settings/definitions`
/// Defines a setting (admins only); 409 if the id is taken.
#[utoipa::path(post, path = "/settings/definitions", tag = "settings", request_body = NewDefinition,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = DefinitionView), (status = 403, description = "not an admin"),
        (status = 409, description = "a definition with this id exists"),
        (status = 422, description = "a field, or a rule the default fails (`details.rule`)")))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Json(body): Json<NewDefinition>,
) -> Result<(StatusCode, Json<DefinitionView>), ApiError> {
    let (id, fields) = body.split();
    let saved = state
        .core
        .settings()
        .create_definition(definition(id, fields))
        .await?;
    let view: DefinitionView = saved.try_into()?;
    audit(
        &state,
        &admin,
        &parts,
        "setting_definition.created",
        &view.id,
        as_json(&view),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// # `GET /api/v1/settings/definitions`
/// Every definition, in `id` order.
#[utoipa::path(get, path = "/settings/definitions", tag = "settings", params(PageQuery),
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = Page<DefinitionView>)))]
async fn list(
    State(settings): State<Settings>,
    _me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Answer<Page<DefinitionView>> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = settings.definitions_page(skip, limit)?;
    let items = items
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// # `GET /api/v1/settings/definitions/{id}`
#[utoipa::path(get, path = "/settings/definitions/{id}", tag = "settings",
    params(("id" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DefinitionView), (status = 404, description = "no such definition")))]
async fn get_one(
    State(settings): State<Settings>,
    _me: CurrentUser,
    Path(id): Path<String>,
) -> Answer<DefinitionView> {
    Ok(Json(settings.definition(&id)?.try_into()?))
}

/// # `PUT /api/v1/settings/definitions/{id}`
/// Replaces a definition (admins only). Values already set stay; resolve
/// skips those that no longer pass.
#[utoipa::path(put, path = "/settings/definitions/{id}", tag = "settings",
    params(("id" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$")), request_body = DefinitionFields,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DefinitionView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such definition"), (status = 422, description = "a field, or a rule the default fails")))]
async fn replace(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<String>,
    Json(body): Json<DefinitionFields>,
) -> Answer<DefinitionView> {
    let old = state.core.settings().definition(&id)?;
    replace_audited(&state, &admin, &parts, old, definition(id, body)).await
}

/// `PATCH`: the fields given replace the stored ones (`validation` as a whole).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DefinitionPatch {
    #[schema(schema_with = fields::name_or_null)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::text_or_null)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::label_or_null)]
    pub category: Option<Option<String>>,
    #[serde(rename = "type")]
    pub value_type: Option<SettingType>,
    #[schema(schema_with = fields::any)]
    pub default_value: Option<Value>,
    #[schema(schema_with = scopes_or_null)]
    pub allowed_scopes: Option<Vec<ScopeName>>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub validation: Option<Validation>,
}

/// # `PATCH /api/v1/settings/definitions/{id}`
/// Changes some fields of a definition (admins only).
#[utoipa::path(patch, path = "/settings/definitions/{id}", tag = "settings",
    params(("id" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$")), request_body = DefinitionPatch,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DefinitionView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such definition"), (status = 422, description = "a field, or a rule the default fails")))]
async fn patch(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<String>,
    Json(p): Json<DefinitionPatch>,
) -> Answer<DefinitionView> {
    let old = state.core.settings().definition(&id)?;
    let mut d = old.clone();
    d.name = p.name.unwrap_or(d.name);
    d.description = p.description.unwrap_or(d.description);
    d.category = p.category.unwrap_or(d.category);
    d.value_type = p.value_type.map(Into::into).unwrap_or(d.value_type);
    if let Some(v) = p.default_value {
        d.default_value = JsonText::from_value(&v);
    }
    if let Some(s) = p.allowed_scopes {
        d.allowed_scopes = s.into_iter().map(Into::into).collect();
    }
    if let Some(v) = p.validation {
        d.rules = v.into();
    }
    replace_audited(&state, &admin, &parts, old, d).await
}

/// # `DELETE /api/v1/settings/definitions/{id}`
/// Deletes a definition and every value set for it (admins only).
#[utoipa::path(delete, path = "/settings/definitions/{id}", tag = "settings",
    params(("id" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted, with its values"), (status = 403, description = "not an admin"),
        (status = 404, description = "no such definition")))]
async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let old: DefinitionView = state.core.settings().definition(&id)?.try_into()?;
    state.core.settings().delete_definition(&id).await?;
    audit(
        &state,
        &admin,
        &parts,
        "setting_definition.deleted",
        &id,
        as_json(&old),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
