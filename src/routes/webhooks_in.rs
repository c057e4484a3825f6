//! Incoming webhooks (API.md 8): the public receiver, which hands the raw
//! body bytes to the core for the signature check, and the admins' list of
//! received events.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chorus_actors::inbound::{Inbound, InboundEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// The receiver: public, limited per IP.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// The admins' list.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Our id of the stored event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub id: Uuid,
}

/// The signature headers, in the order they are looked for.
const SIGNATURE_HEADERS: [&str; 2] = ["x-webhook-signature", "stripe-signature"];

/// # `POST /api/v1/webhooks/{source}`
///
/// Verifies the Stripe-style signature over the exact body bytes, stores
/// the event once per `(source, id)` and queues its processing (a
/// `webhook.received` job); the sender does not wait for it. An event whose
/// `type` is outside the source's `events` list is stored as `ignored` and
/// also answered 200, so the sender stops retrying it.
#[utoipa::path(post, path = "/webhooks/{source}", tag = "webhooks",
    params(("source" = String, Path, description = "a configured `webhooks.sources.<name>`"),
        ("X-Webhook-Signature" = Option<String>, Header, description = "`t=<unix>,v1=<hex hmac-sha256 of \"t.body\">`; several `v1` entries allowed"),
        ("Stripe-Signature" = Option<String>, Header, description = "the same, as Stripe sends it (read when X-Webhook-Signature is absent)")),
    request_body(content = Object, content_type = "application/json", description = "the sender's event: a JSON object with a string `id` and usually a `type`"),
    responses((status = 200, body = Received, description = "stored (or a type outside the allow-list: stored as ignored)"),
        (status = 400, description = "the signature is missing, malformed, more than 5 minutes off or wrong, or the body is not JSON"),
        (status = 404, description = "no such source"),
        (status = 409, description = "an event with this `id` was already received from this source"),
        (status = 422, description = "the body has no string `id` (`details.field` = `id`)")))]
async fn receive(
    State(inbound): State<Inbound>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let signature = SIGNATURE_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|v| v.to_str().unwrap_or(""));
    let event = inbound.receive(&source, signature, &body).await?;
    Ok(Json(Received { id: event.id }))
}

/// A received event, as admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundEventView {
    pub id: Uuid,
    pub source: String,
    /// The sender's id (the body's `id`).
    pub event_id: String,
    pub event_type: Option<String>,
    /// `received` (queued), `processed`, `failed` (`error` says why; retried
    /// with backoff) or `ignored` (a type outside the source's `events`).
    #[schema(schema_with = event_status)]
    pub status: &'static str,
    pub received_at: String,
    pub processed_at: Option<String>,
    pub error: Option<String>,
    /// The body as received.
    #[schema(value_type = Object)]
    pub payload: Value,
}

fn event_status() -> utoipa::openapi::schema::Schema {
    fields::one_of(["received", "processed", "failed", "ignored"].into_iter())
}

impl InboundEventView {
    fn new(e: InboundEvent) -> Result<Self, ApiError> {
        Ok(Self {
            payload: e.payload.parse()?,
            id: e.id,
            source: e.source,
            event_id: e.event_id,
            event_type: e.event_type,
            status: e.status.as_str(),
            received_at: rfc3339_ms(e.received_at),
            processed_at: e.processed_at.map(rfc3339_ms),
            error: e.error,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Only events of this source.
    pub source: Option<String>,
}

/// # `GET /api/v1/admin/webhooks/events`
///
/// Received webhook events, newest first.
#[utoipa::path(get, path = "/admin/webhooks/events", tag = "admin", params(EventQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<InboundEventView>), (status = 403, description = "not an admin")))]
async fn list_events(
    State(inbound): State<Inbound>,
    _admin: Admin,
    Query(q): Query<EventQuery>,
) -> Result<Json<Page<InboundEventView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (events, total) = inbound.list(q.source.as_deref(), skip, limit)?;
    let items = events
        .into_iter()
        .map(InboundEventView::new)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}
