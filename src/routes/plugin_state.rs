//! Plugin state (API.md 8): JSON objects client-side plugins keep per user,
//! plugin, page and key, optionally until `ttl_expires_at` (expired states
//! are gone for every read at once, and swept in the background).

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::model::{PluginState, StateStrategy};
use chorus_actors::plugin_state::{
    BULK_ITEMS, PLUGIN_ID_CHARS, PluginStates, STATE_DATA_BYTES, StateInput,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::settings::page_id_schema_or_null;
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
        .routes(routes!(bulk))
        .routes(routes!(stats))
        .routes(routes!(cleanup))
        .routes(routes!(get_one, replace, patch, delete))
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    Persistent,
    Session,
    None,
    Custom,
}

impl From<Strategy> for StateStrategy {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::Persistent => StateStrategy::Persistent,
            Strategy::Session => StateStrategy::Session,
            Strategy::None => StateStrategy::None,
            Strategy::Custom => StateStrategy::Custom,
        }
    }
}

impl From<StateStrategy> for Strategy {
    fn from(s: StateStrategy) -> Self {
        match s {
            StateStrategy::Persistent => Strategy::Persistent,
            StateStrategy::Session => Strategy::Session,
            StateStrategy::None => Strategy::None,
            StateStrategy::Custom => Strategy::Custom,
        }
    }
}

fn plugin_id_value() -> Value {
    json!({"type": "string", "pattern": format!("^[A-Za-z0-9._:/@-]{{1,{PLUGIN_ID_CHARS}}}$")})
}

fn plugin_id() -> utoipa::openapi::Schema {
    fields::raw(plugin_id_value())
}

fn plugin_id_or_null() -> utoipa::openapi::Schema {
    let mut v = plugin_id_value();
    v["type"] = json!(["string", "null"]);
    fields::raw(v)
}

fn state_data() -> utoipa::openapi::Schema {
    fields::raw(json!({"type": "object",
        "description": format!("A JSON object of at most {} KiB serialized (413 above).", STATE_DATA_BYTES / 1024)}))
}

fn ttl_or_null() -> utoipa::openapi::Schema {
    fields::raw(
        json!({"type": ["string", "null"], "format": "date-time", "minLength": 20,
        "description": "RFC 3339, in the future; the state is gone from then on."}),
    )
}

/// `POST /plugin-state` (and each item of `/bulk`, and `PUT`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StateBody {
    #[schema(schema_with = plugin_id)]
    pub plugin_id: String,
    #[schema(schema_with = page_id_schema_or_null)]
    pub page_id: Option<String>,
    #[schema(schema_with = page_id_schema_or_null)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub state_strategy: Strategy,
    #[serde(default)]
    #[schema(schema_with = state_data)]
    pub state_data: Map<String, Value>,
    #[schema(schema_with = ttl_or_null)]
    pub ttl_expires_at: Option<DateTime<Utc>>,
}

impl From<StateBody> for StateInput {
    fn from(b: StateBody) -> Self {
        StateInput {
            plugin_id: b.plugin_id,
            page_id: b.page_id,
            state_key: b.state_key,
            strategy: b.state_strategy.into(),
            state_data: Value::Object(b.state_data),
            expires_at: b.ttl_expires_at.map(|t| t.timestamp_millis()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StateView {
    pub id: Uuid,
    pub plugin_id: String,
    pub page_id: Option<String>,
    pub state_key: Option<String>,
    pub state_strategy: Strategy,
    #[schema(schema_with = state_data)]
    pub state_data: Value,
    pub ttl_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<PluginState> for StateView {
    type Error = ApiError;
    fn try_from(s: PluginState) -> Result<Self, ApiError> {
        Ok(Self {
            state_data: s.state_data.parse()?,
            id: s.id,
            plugin_id: s.plugin_id,
            page_id: s.page_id,
            state_key: s.state_key,
            state_strategy: s.strategy.into(),
            ttl_expires_at: s.expires_at.map(rfc3339_ms),
            created_at: rfc3339_ms(s.created_at),
            updated_at: rfc3339_ms(s.updated_at),
        })
    }
}

fn views(states: Vec<PluginState>) -> Result<Vec<StateView>, ApiError> {
    states.into_iter().map(TryInto::try_into).collect()
}

/// # `POST /api/v1/plugin-state`
#[utoipa::path(post, path = "/plugin-state", tag = "plugin-state", request_body = StateBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = StateView), (status = 409, description = "you have a state for this plugin, page and key"),
        (status = 413, description = "state_data over 256 KiB, or the body over limits.json_body_bytes"),
        (status = 429, description = "limits.max_plugin_states_per_user reached")))]
async fn create(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Json(body): Json<StateBody>,
) -> Result<(StatusCode, Json<StateView>), ApiError> {
    let state = states.create(me.user.id, body.into()).await?;
    Ok((StatusCode::CREATED, Json(state.try_into()?)))
}

/// The schema's `maxItems` below is the core's limit.
const _: () = assert!(BULK_ITEMS == 100);

#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkBody {
    #[schema(max_items = 100, min_items = 1)]
    pub items: Vec<StateBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkView {
    pub items: Vec<StateView>,
}

/// # `POST /api/v1/plugin-state/bulk`
/// Creates 1-100 states in one transaction, or none: if any item fails,
/// nothing is written and `details.errors` lists each failed item's
/// `index`, `code`, `message` (and `details`). Only duplicates: 409; else 422.
#[utoipa::path(post, path = "/plugin-state/bulk", tag = "plugin-state", request_body = BulkBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = BulkView), (status = 409, description = "every failed item duplicates a state (or an earlier item)"),
        (status = 422, description = "over 100 items, or some items failed: `details.errors`"),
        (status = 429, description = "limits.max_plugin_states_per_user would be passed")))]
async fn bulk(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Json(body): Json<BulkBody>,
) -> Result<(StatusCode, Json<BulkView>), ApiError> {
    let inputs = body.items.into_iter().map(Into::into).collect();
    let created = states.create_many(me.user.id, inputs).await?;
    Ok((
        StatusCode::CREATED,
        Json(BulkView {
            items: views(created)?,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StateQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    #[param(schema_with = plugin_id_or_null)]
    pub plugin_id: Option<String>,
    #[param(schema_with = page_id_schema_or_null)]
    pub page_id: Option<String>,
}

/// # `GET /api/v1/plugin-state`
/// Your live states, newest first.
#[utoipa::path(get, path = "/plugin-state", tag = "plugin-state", params(StateQuery),
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = Page<StateView>)))]
async fn list(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Query(q): Query<StateQuery>,
) -> Result<Json<Page<StateView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = states.page(
        me.user.id,
        q.plugin_id.as_deref(),
        q.page_id.as_deref(),
        skip,
        limit,
    )?;
    Ok(Json(Page::new(views(items)?, total, skip, limit)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginStatsView {
    pub plugin_id: String,
    pub states: u64,
    /// `state_data` serialized, summed.
    pub bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub total_states: u64,
    pub total_bytes: u64,
    /// By plugin id.
    pub plugins: Vec<PluginStatsView>,
}

/// # `GET /api/v1/plugin-state/stats`
/// Your live states and their bytes, per plugin.
#[utoipa::path(get, path = "/plugin-state/stats", tag = "plugin-state",
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = StatsView)))]
async fn stats(
    State(states): State<PluginStates>,
    me: CurrentUser,
) -> Result<Json<StatsView>, ApiError> {
    let plugins: Vec<PluginStatsView> = states
        .stats(me.user.id)?
        .into_iter()
        .map(|p| PluginStatsView {
            plugin_id: p.plugin_id,
            states: p.states,
            bytes: p.bytes,
        })
        .collect();
    Ok(Json(StatsView {
        total_states: plugins.iter().map(|p| p.states).sum(),
        total_bytes: plugins.iter().map(|p| p.bytes).sum(),
        plugins,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupView {
    /// Your expired states deleted.
    pub deleted: u64,
}

/// # `DELETE /api/v1/plugin-state/cleanup`
/// Deletes your expired states now (the sweeper would, later).
#[utoipa::path(delete, path = "/plugin-state/cleanup", tag = "plugin-state",
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = CleanupView)))]
async fn cleanup(
    State(states): State<PluginStates>,
    me: CurrentUser,
) -> Result<Json<CleanupView>, ApiError> {
    Ok(Json(CleanupView {
        deleted: states.cleanup(me.user.id).await?,
    }))
}

/// # `GET /api/v1/plugin-state/{id}`
#[utoipa::path(get, path = "/plugin-state/{id}", tag = "plugin-state", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = StateView), (status = 404, description = "no such live state of yours")))]
async fn get_one(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<StateView>, ApiError> {
    Ok(Json(states.get(me.user.id, id)?.try_into()?))
}

/// # `PUT /api/v1/plugin-state/{id}`
/// Replaces a state (every field; absent ones take their defaults).
#[utoipa::path(put, path = "/plugin-state/{id}", tag = "plugin-state", params(("id" = Uuid, Path)), request_body = StateBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = StateView), (status = 404, description = "no such live state of yours"),
        (status = 409, description = "the new plugin, page and key are another state's"),
        (status = 413, description = "state_data over 256 KiB")))]
async fn replace(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<StateBody>,
) -> Result<Json<StateView>, ApiError> {
    Ok(Json(
        states
            .replace(me.user.id, id, body.into())
            .await?
            .try_into()?,
    ))
}

/// `PATCH`: the fields given replace the stored ones; `null` clears
/// `page_id`, `state_key` and `ttl_expires_at`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatePatch {
    #[schema(schema_with = plugin_id_or_null)]
    pub plugin_id: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = page_id_schema_or_null)]
    pub page_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = page_id_schema_or_null)]
    pub state_key: Option<Option<String>>,
    pub state_strategy: Option<Strategy>,
    #[schema(schema_with = state_data_or_null)]
    pub state_data: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = ttl_or_null)]
    pub ttl_expires_at: Option<Option<DateTime<Utc>>>,
}

fn state_data_or_null() -> utoipa::openapi::Schema {
    fields::raw(json!({"type": ["object", "null"],
        "description": format!("A JSON object of at most {} KiB serialized.", STATE_DATA_BYTES / 1024)}))
}

/// # `PATCH /api/v1/plugin-state/{id}`
#[utoipa::path(patch, path = "/plugin-state/{id}", tag = "plugin-state", params(("id" = Uuid, Path)), request_body = StatePatch,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = StateView), (status = 404, description = "no such live state of yours"),
        (status = 409, description = "the new plugin, page and key are another state's"),
        (status = 413, description = "state_data over 256 KiB")))]
async fn patch(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(p): Json<StatePatch>,
) -> Result<Json<StateView>, ApiError> {
    let old = states.get(me.user.id, id)?;
    let input = StateInput {
        plugin_id: p.plugin_id.unwrap_or(old.plugin_id),
        page_id: p.page_id.unwrap_or(old.page_id),
        state_key: p.state_key.unwrap_or(old.state_key),
        strategy: p.state_strategy.map(Into::into).unwrap_or(old.strategy),
        state_data: match p.state_data {
            Some(data) => Value::Object(data),
            None => old.state_data.parse()?,
        },
        expires_at: match p.ttl_expires_at {
            Some(t) => t.map(|t| t.timestamp_millis()),
            None => old.expires_at,
        },
    };
    Ok(Json(
        states.replace(me.user.id, id, input).await?.try_into()?,
    ))
}

/// # `DELETE /api/v1/plugin-state/{id}`
#[utoipa::path(delete, path = "/plugin-state/{id}", tag = "plugin-state", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such live state of yours")))]
async fn delete(
    State(states): State<PluginStates>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    states.delete(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
