//! Tags (API.md 3): per-user labels for conversations; names unique per user.

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::conversations::Catalog;
use chorus_actors::model::{Tag, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, rename, delete))
        .routes(routes!(add_to_conversation))
        .routes(routes!(remove_from_conversation))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TagBody {
    /// Unique among your tags.
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::label_or_null)]
    pub color: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub id: Uuid,
    pub name: String,
    pub color: Option<String>,
    pub created_at: String,
}

impl From<Tag> for TagView {
    fn from(t: Tag) -> Self {
        Self {
            id: t.id,
            name: t.name,
            color: t.color,
            created_at: rfc3339_ms(t.created_at),
        }
    }
}

/// Creates a tag; 409 if you have one of that name.
#[utoipa::path(post, path = "/tags", tag = "tags", request_body = TagBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = TagView), (status = 409, description = "name taken"),
        (status = 429, description = "limits.max_tags_per_user reached")))]
async fn create(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Json(body): Json<TagBody>,
) -> Result<(StatusCode, Json<TagView>), ApiError> {
    let tag = Tag {
        id: Uuid::now_v7(),
        user_id: me.user.id,
        name: body.name,
        color: body.color,
        created_at: now_ms(),
    };
    Ok((
        StatusCode::CREATED,
        Json(catalog.save_tag(tag).await?.into()),
    ))
}

/// Your tags, newest first.
#[utoipa::path(get, path = "/tags", tag = "tags", params(PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<TagView>)))]
async fn list(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<TagView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = catalog.tags_page(me.user.id, skip, limit)?;
    Ok(Json(Page::new(
        items.into_iter().map(Into::into).collect(),
        total,
        skip,
        limit,
    )))
}

/// One tag.
#[utoipa::path(get, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TagView), (status = 404, description = "no such tag of yours")))]
async fn get_one(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<TagView>, ApiError> {
    Ok(Json(catalog.tag(me.user.id, id)?.into()))
}

/// Renames or recolors a tag.
#[utoipa::path(put, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), request_body = TagBody,
    security(("bearer" = []), ("cookie" = [])), responses((status = 404, description = "no such tag of yours"), (status = 200, body = TagView), (status = 409, description = "name taken")))]
async fn rename(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<TagBody>,
) -> Result<Json<TagView>, ApiError> {
    let old = catalog.tag(me.user.id, id)?;
    let tag = Tag {
        name: body.name,
        color: body.color,
        ..old
    };
    Ok(Json(catalog.save_tag(tag).await?.into()))
}

/// Deletes a tag.
#[utoipa::path(delete, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 404, description = "no such tag of yours"), (status = 204, description = "deleted")))]
async fn delete(
    State(catalog): State<Catalog>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    catalog.delete_tag(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TagRef {
    pub tag_id: Uuid,
}

/// Tags a conversation.
#[utoipa::path(post, path = "/conversations/{id}/tags", tag = "tags", params(("id" = Uuid, Path)), request_body = TagRef,
    security(("bearer" = []), ("cookie" = [])), responses((status = 204, description = "tagged"), (status = 404, description = "no such conversation or tag of yours")))]
async fn add_to_conversation(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<TagRef>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .catalog()
        .tag_conversation(me.user.id, id, body.tag_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a tag from a conversation.
#[utoipa::path(delete, path = "/conversations/{id}/tags/{tag_id}", tag = "tags", params(("id" = Uuid, Path), ("tag_id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])), responses((status = 404, description = "no such conversation of yours"), (status = 204, description = "untagged")))]
async fn remove_from_conversation(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((id, tag_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .catalog()
        .tag_conversation(me.user.id, id, tag_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
