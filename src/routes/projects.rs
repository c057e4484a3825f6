//! Projects (API.md 8): per-user groups of conversations and documents.
//! `DELETE` is soft: the project is gone from every read afterwards (404).

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::model::Project;
use chorus_actors::projects::{ProjectPatch, Projects};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            created_at: rfc3339_ms(p.created_at),
            updated_at: rfc3339_ms(p.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProjectBody {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::text_or_null)]
    pub description: Option<String>,
}

/// # `POST /api/v1/projects`
///
/// Creates a project.
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = NewProjectBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ProjectView), (status = 429, description = "limits.max_projects_per_user reached")))]
async fn create(
    State(projects): State<Projects>,
    me: CurrentUser,
    Json(body): Json<NewProjectBody>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let project = projects
        .create(me.user.id, body.name, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProjectQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Matches the name, case-insensitive.
    pub search: Option<String>,
}

/// # `GET /api/v1/projects`
///
/// Your live projects, newest first.
#[utoipa::path(get, path = "/projects", tag = "projects", params(ProjectQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ProjectView>)))]
async fn list(
    State(projects): State<Projects>,
    me: CurrentUser,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<Page<ProjectView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = projects.list(me.user.id, q.search.as_deref(), skip, limit)?;
    let items = items.into_iter().map(Into::into).collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// # `GET /api/v1/projects/{id}`
///
/// One project (404 once deleted).
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectView), (status = 404, description = "no such project of yours")))]
async fn get_one(
    State(projects): State<Projects>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ProjectView>, ApiError> {
    Ok(Json(projects.get(me.user.id, id)?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectPatchBody {
    #[schema(schema_with = fields::name_or_null)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::text_or_null)]
    pub description: Option<Option<String>>,
}

/// # `PATCH /api/v1/projects/{id}`
///
/// Changes only the fields sent.
#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)), request_body = ProjectPatchBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectView), (status = 404, description = "no such project of yours")))]
async fn patch(
    State(projects): State<Projects>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ProjectPatchBody>,
) -> Result<Json<ProjectView>, ApiError> {
    let patch = ProjectPatch {
        name: body.name,
        description: body.description,
    };
    Ok(Json(projects.update(me.user.id, id, patch).await?.into()))
}

/// # `DELETE /api/v1/projects/{id}`
///
/// Soft-deletes a project: gone from lists and reads (404) from now on.
/// Its conversations and documents stay.
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such project of yours")))]
async fn delete(
    State(projects): State<Projects>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    projects.delete(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
