//! Admin: usage across users (API.md 10): this month's top users by a
//! metric, and one user's usage by month, by day and by model.

use axum::extract::State;
use chorus_actors::accounts::Accounts;
use chorus_actors::model::now_ms;
use chorus_actors::usage::{Usage, UsageMetric, UsageTotals, month_of};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::Period;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(top_users))
        .routes(routes!(summary))
}

/// `limit` of the top users: smallest, largest, default.
const TOP: (i64, i64, i64) = (1, 100, 10);
/// `days` of a summary's `by_day`: smallest, largest, default.
const DAYS: (i64, i64, i64) = (1, 90, 30);

/// Requests, tokens and cost over some period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Totals {
    pub ai_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
}

impl From<&UsageTotals> for Totals {
    fn from(t: &UsageTotals) -> Self {
        Self {
            ai_requests: t.ai_requests,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            total_tokens: t.total_tokens(),
            cost_usd: t.cost_micro_usd as f64 / 1e6,
        }
    }
}

fn period(now: i64) -> Period {
    let (_, start, end) = month_of(now);
    Period {
        start: rfc3339_ms(start),
        end: rfc3339_ms(end),
    }
}

fn checked(
    name: &str,
    value: Option<i64>,
    (min, max, default): (i64, i64, i64),
) -> Result<usize, ApiError> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(ApiError::validation(name, format!("must be {min}-{max}")));
    }
    Ok(v as usize)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TopQuery {
    /// `total_tokens` (default), `requests` or `cost_usd`.
    #[param(schema_with = metric)]
    pub metric: Option<String>,
    /// Users to answer, 1-100 (default 10).
    #[param(schema_with = top_limit)]
    pub limit: Option<i64>,
}

fn metric() -> utoipa::openapi::Schema {
    fields::one_of_or_null(["total_tokens", "requests", "cost_usd"].into_iter())
}

fn top_limit() -> utoipa::openapi::Schema {
    fields::integer_or_null(TOP.0, TOP.1, TOP.2)
}

fn days() -> utoipa::openapi::Schema {
    fields::integer_or_null(DAYS.0, DAYS.1, DAYS.2)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUser {
    pub user_id: Uuid,
    pub email: String,
    pub username: String,
    /// The ranked figure: tokens, requests, or dollars for `cost_usd`.
    pub value: f64,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUsers {
    pub metric: String,
    /// This calendar month (UTC).
    pub period: Period,
    pub items: Vec<TopUser>,
}

/// # `GET /api/v1/admin/usage/top-users?metric=total_tokens&limit=10`
/// The users with the most usage this month, highest first.
#[utoipa::path(get, path = "/admin/usage/top-users", tag = "admin", params(TopQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TopUsers), (status = 403, description = "not an admin"),
        (status = 422, description = "an unknown metric or a limit out of range")))]
async fn top_users(
    State(usage): State<Usage>,
    State(accounts): State<Accounts>,
    _admin: Admin,
    Query(q): Query<TopQuery>,
) -> Result<Json<TopUsers>, ApiError> {
    let name = q.metric.unwrap_or_else(|| "total_tokens".into());
    let metric = UsageMetric::parse(&name)
        .ok_or_else(|| ApiError::validation("metric", "one of total_tokens, requests, cost_usd"))?;
    let limit = checked("limit", q.limit, TOP)?;
    let now = now_ms();
    let mut items = Vec::new();
    for (user_id, totals) in usage.top_users(metric, limit, now)? {
        let Ok(user) = accounts.user(user_id) else {
            continue;
        };
        let totals = Totals::from(&totals);
        let value = match metric {
            UsageMetric::TotalTokens => totals.total_tokens as f64,
            UsageMetric::Requests => totals.ai_requests as f64,
            UsageMetric::CostUsd => totals.cost_usd,
        };
        let (email, username) = (user.email.clone(), user.username.clone());
        items.push(TopUser {
            user_id,
            email,
            username,
            value,
            totals,
        });
    }
    Ok(Json(TopUsers {
        metric: name,
        period: period(now),
        items,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SummaryQuery {
    /// Days `by_day` covers, ending today, 1-90 (default 30).
    #[param(schema_with = days)]
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelRow {
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserUsage {
    pub user_id: Uuid,
    pub email: String,
    pub username: String,
    /// This calendar month (UTC), which `by_model` covers.
    pub period: Period,
    /// Every month with usage, newest first.
    pub by_month: Vec<MonthRow>,
    /// The last `days` days, oldest first, days without usage at 0.
    pub by_day: Vec<DayRow>,
    /// This month's usage per model.
    pub by_model: Vec<ModelRow>,
}

/// # `GET /api/v1/admin/usage/summary/{user_id}`
/// One user's usage by month, by day and (this month) by model.
#[utoipa::path(get, path = "/admin/usage/summary/{user_id}", tag = "admin",
    params(("user_id" = Uuid, Path), SummaryQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserUsage), (status = 403, description = "not an admin"),
        (status = 404, description = "no such user")))]
async fn summary(
    State(usage): State<Usage>,
    State(accounts): State<Accounts>,
    _admin: Admin,
    Path(user_id): Path<Uuid>,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<UserUsage>, ApiError> {
    let days = checked("days", q.days, DAYS)?;
    let user = accounts.user(user_id)?;
    let now = now_ms();
    let by_month = (usage.months(user.id)?.iter())
        .map(|(m, t)| MonthRow {
            month: format!("{:04}-{:02}", m / 100, m % 100),
            totals: t.into(),
        })
        .collect();
    let by_day = (usage.days(user.id, days as u32, now)?.iter())
        .map(|(d, t)| DayRow {
            date: format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100),
            totals: t.into(),
        })
        .collect();
    let by_model = (usage.models(user.id, now)?.iter())
        .map(|(model, t)| ModelRow {
            model: model.clone(),
            totals: t.into(),
        })
        .collect();
    Ok(Json(UserUsage {
        user_id: user.id,
        email: user.email.clone(),
        username: user.username.clone(),
        period: period(now),
        by_month,
        by_day,
        by_model,
    }))
}
