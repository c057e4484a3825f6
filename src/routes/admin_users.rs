//! Admin: users (API.md 10, first bullet). Admin role required; only a
//! superadmin grants or removes admin roles.

use axum::extract::State;
use axum::http::request::Parts;
use chorus_actors::accounts::Accounts;
use chorus_actors::accounts::UserPatch;
use chorus_actors::model::Role;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::UserView;
use crate::auth::{Admin, client_ip};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::Page;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, patch_user))
        .routes(routes!(deactivate))
        .routes(routes!(activate))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    #[serde(default)]
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[serde(default)]
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Matches username, email or full name, case-insensitive.
    pub search: Option<String>,
}

/// Users, newest first.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(UserQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<UserView>), (status = 403, description = "not an admin")))]
async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<UserQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let (skip, limit) = crate::pagination::bounds(q.skip, q.limit)?;
    let page = state
        .core
        .accounts()
        .list_users(q.search.as_deref(), skip, limit)?;
    let items = page.items.iter().map(|u| UserView::from(&**u)).collect();
    Ok(Json(Page::new(items, page.total, skip, limit)))
}

/// One user.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 403, description = "not an admin"), (status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn get_user(
    State(accounts): State<Accounts>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(&*accounts.user(id)?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserPatchBody {
    #[schema(schema_with = fields::user_role_or_null)]
    pub role: Option<String>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "crate::extract::whole_or_clear")]
    #[schema(schema_with = fields::allowance_or_null)]
    pub monthly_token_allowance: Option<Option<u64>>,
}

async fn apply(
    state: &AppState,
    admin: Admin,
    parts: &Parts,
    id: Uuid,
    patch: UserPatch,
) -> Result<Json<UserView>, ApiError> {
    let ip = client_ip(parts).map(|ip| ip.to_string());
    let user = state
        .core
        .accounts()
        .update_user(&admin.0.user, id, patch, ip)
        .await?;
    Ok(Json(UserView::from(&*user)))
}

/// Changes a user's role, active flag or monthly allowance. Deactivating
/// revokes all their sessions at once.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path)), request_body = UserPatchBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserView), (status = 403, description = "not an admin; or an admin role or account without being a superadmin"), (status = 404, description = "no such user"), (status = 409, description = "cannot change your own role or deactivate yourself")))]
async fn patch_user(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<Uuid>,
    Json(body): Json<UserPatchBody>,
) -> Result<Json<UserView>, ApiError> {
    let role = match body.role.as_deref() {
        Some(r) => Some(
            Role::parse(r)
                .ok_or_else(|| ApiError::validation("role", "one of user, admin, superadmin"))?,
        ),
        None => None,
    };
    let patch = UserPatch {
        role,
        is_active: body.is_active,
        monthly_token_allowance: body.monthly_token_allowance,
    };
    apply(&state, admin, &parts, id, patch).await
}

/// Deactivates a user and revokes all their sessions at once.
#[utoipa::path(post, path = "/admin/users/{id}/deactivate", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])), responses((status = 403, description = "not an admin; or an admin account without being a superadmin"), (status = 404, description = "no such user"), (status = 409, description = "you cannot deactivate yourself"), (status = 200, body = UserView)))]
async fn deactivate(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let patch = UserPatch {
        is_active: Some(false),
        ..Default::default()
    };
    apply(&state, admin, &parts, id, patch).await
}

/// Activates a user.
#[utoipa::path(post, path = "/admin/users/{id}/activate", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])), responses((status = 403, description = "not an admin; or an admin account without being a superadmin"), (status = 404, description = "no such user"), (status = 200, body = UserView)))]
async fn activate(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let patch = UserPatch {
        is_active: Some(true),
        ..Default::default()
    };
    apply(&state, admin, &parts, id, patch).await
}
