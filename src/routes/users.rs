//! The caller's own profile and usage (API.md 2.3), and the `User` body every
//! route that returns a user shares.

use axum::extract::State;
use chorus_actors::model::{User, now_ms};
use chorus_actors::usage::Usage;
use chorus_actors::usage::UsageSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::fields;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me, patch_me))
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub avatar_url: Option<String>,
    /// `user`, `admin` or `superadmin`.
    pub role: &'static str,
    pub is_active: bool,
    pub created_at: String,
    /// Tokens per month; null = unlimited.
    pub monthly_token_allowance: Option<u64>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            avatar_url: u.avatar_url.clone(),
            role: u.role.as_str(),
            is_active: u.is_active,
            created_at: rfc3339_ms(u.created_at),
            monthly_token_allowance: u.monthly_token_allowance,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    pub start: String,
    pub end: String,
}

/// This month's usage against the allowance.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub period: Period,
    pub ai_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub monthly_token_allowance: Option<u64>,
    pub tokens_remaining: Option<i64>,
}

impl From<UsageSummary> for UsageView {
    fn from(s: UsageSummary) -> Self {
        Self {
            period: Period {
                start: rfc3339_ms(s.period_start_ms),
                end: rfc3339_ms(s.period_end_ms),
            },
            ai_requests: s.usage.ai_requests,
            prompt_tokens: s.usage.prompt_tokens,
            completion_tokens: s.usage.completion_tokens,
            total_tokens: s.usage.total_tokens(),
            cost_usd: s.usage.cost_micro_usd as f64 / 1e6,
            monthly_token_allowance: s.monthly_token_allowance,
            tokens_remaining: s.tokens_remaining,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub usage: UsageView,
}

/// The caller, with this month's usage.
#[utoipa::path(get, path = "/users/me", tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeView), (status = 401, description = "not signed in")))]
async fn get_me(State(usage): State<Usage>, me: CurrentUser) -> Result<Json<MeView>, ApiError> {
    let usage = usage.summary(&me.user, now_ms())?;
    Ok(Json(MeView {
        user: UserView::from(&*me.user),
        usage: usage.into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfilePatch {
    #[schema(schema_with = fields::full_name_or_null)]
    pub full_name: Option<String>,
    #[schema(schema_with = fields::avatar_url_or_null)]
    pub avatar_url: Option<String>,
}

/// Changes the caller's full name or avatar.
#[utoipa::path(patch, path = "/users/me", tag = "users", request_body = ProfilePatch,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserView), (status = 422, description = "a field is too long")))]
async fn patch_me(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(patch): Json<ProfilePatch>,
) -> Result<Json<UserView>, ApiError> {
    let user = state
        .core
        .accounts()
        .update_profile(me.user.id, patch.full_name, patch.avatar_url)
        .await?;
    Ok(Json(UserView::from(&*user)))
}
