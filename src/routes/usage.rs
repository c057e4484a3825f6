//! Usage and query logs (API.md 2.3).

use axum::extract::State;
use chorus_actors::model::now_ms;
use chorus_actors::usage::Usage;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::UsageView;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Json, Query};
use crate::openapi::fields;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(daily))
        .routes(routes!(breakdown))
        .routes(routes!(query_logs))
}

/// This month's usage against the allowance.
#[utoipa::path(get, path = "/users/me/usage", tag = "users", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UsageView)))]
async fn usage(State(usage): State<Usage>, me: CurrentUser) -> Result<Json<UsageView>, ApiError> {
    Ok(Json(usage.summary(&me.user, now_ms())?.into()))
}

/// The days `/users/me/usage/daily` may cover, and its default.
const DAYS: (i64, i64, i64) = (1, 90, 30);
/// The query logs one page may hold, and the default.
const LOGS: (i64, i64, i64) = (1, 500, 50);

#[derive(Debug, Deserialize, IntoParams)]
pub struct DaysQuery {
    #[param(schema_with = days)]
    pub days: Option<i64>,
}

fn days() -> utoipa::openapi::Schema {
    fields::integer_or_null(DAYS.0, DAYS.1, DAYS.2)
}

fn logs() -> utoipa::openapi::Schema {
    fields::integer_or_null(LOGS.0, LOGS.1, LOGS.2)
}

/// Total tokens per day (UTC), oldest first.
#[utoipa::path(get, path = "/users/me/usage/daily", tag = "users", params(DaysQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"metric\":\"total_tokens\",\"data\":[{\"date\",\"value\"}],\"total\"}`")))]
async fn daily(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<DaysQuery>,
) -> Result<Json<Value>, ApiError> {
    let (min, max, default) = DAYS;
    let days = q.days.unwrap_or(default);
    if !(min..=max).contains(&days) {
        return Err(ApiError::validation("days", format!("must be {min}-{max}")));
    }
    let rows = state
        .core
        .usage()
        .daily(me.user.id, days as u32, now_ms())?;
    let total: u64 = rows.iter().map(|(_, v)| v).sum();
    let data: Vec<Value> = rows
        .into_iter()
        .map(|(day, value)| json!({ "date": format!("{:04}-{:02}-{:02}", day / 10_000, day / 100 % 100, day % 100), "value": value }))
        .collect();
    Ok(Json(
        json!({ "metric": "total_tokens", "data": data, "total": total }),
    ))
}

/// This month's tokens per model.
#[utoipa::path(get, path = "/users/me/usage/breakdown", tag = "users", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"by_model\":{model:tokens},\"total\"}`")))]
async fn breakdown(State(usage): State<Usage>, me: CurrentUser) -> Result<Json<Value>, ApiError> {
    let rows = usage.by_model(me.user.id, now_ms())?;
    let total: u64 = rows.iter().map(|(_, v)| v).sum();
    let by_model: serde_json::Map<String, Value> =
        rows.into_iter().map(|(m, v)| (m, json!(v))).collect();
    Ok(Json(json!({ "by_model": by_model, "total": total })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    #[param(schema_with = logs)]
    pub limit: Option<i64>,
    /// Admins only: another user's logs.
    pub user_id: Option<Uuid>,
}

/// The caller's AI calls, newest first.
#[utoipa::path(get, path = "/query-logs", tag = "users", params(LogsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`[{id,created_at,kind,provider,model,input_preview,prompt_tokens,completion_tokens,latency_ms,status}]`"),
              (status = 403, description = "user_id given by a non-admin")))]
async fn query_logs(
    State(usage): State<Usage>,
    me: CurrentUser,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (min, max, default) = LOGS;
    let limit = q.limit.unwrap_or(default);
    if !(min..=max).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("must be {min}-{max}"),
        ));
    }
    let user_id = match q.user_id {
        Some(other) if other != me.user.id && !me.user.role.is_admin() => {
            return Err(ApiError::new(
                ErrorKind::Authorization,
                "only admins may read other users' logs",
            ));
        }
        Some(other) => other,
        None => me.user.id,
    };
    let logs = usage.query_logs(user_id, limit as usize)?;
    Ok(Json(
        logs.into_iter()
            .map(|l| {
                json!({
                    "id": l.id, "created_at": rfc3339_ms(l.created_at), "kind": l.kind, "provider": l.provider,
                    "model": l.model, "input_preview": l.input_preview, "prompt_tokens": l.prompt_tokens,
                    "completion_tokens": l.completion_tokens, "latency_ms": l.latency_ms, "status": l.status,
                })
            })
            .collect(),
    ))
}
