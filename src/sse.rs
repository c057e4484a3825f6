//! Server-sent events (API.md 0.5): a generation's events as an SSE
//! response, with keep-alive comments, no proxy buffering, and resumption
//! from `Last-Event-ID`.
//!
//! Every stream (SSE here, and WebSockets) holds one of its user's stream
//! slots ([`take_slot`]) while it runs, and ends when the credential it was
//! opened with is revoked.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chorus_actors::connections::StreamLease;
use chorus_actors::replay::{GenEvent, Generation};
use futures::{Stream, StreamExt};

use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// One of `me`'s stream slots, for an SSE response or a WebSocket: 429
/// `QUOTA_EXCEEDED` when they already hold `limits.max_streams_per_user`.
/// Take it before any work starts (the upgrade, the generation).
pub fn take_slot(state: &AppState, me: &CurrentUser) -> Result<StreamLease, ApiError> {
    state
        .core
        .connections()
        .streams()
        .open(me.credential())
        .map_err(|full| {
            ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "at most {} open streams (WebSockets and SSE) per user",
                    full.limit
                ),
            )
            .with_details(serde_json::json!({ "limit": full.limit }))
        })
}

/// `events` while the stream's slot lives: they end when its credential
/// is revoked, and the slot is freed when the response is dropped.
pub fn guarded<S: Stream + Send + 'static>(
    slot: StreamLease,
    events: S,
) -> impl Stream<Item = S::Item> + Send + 'static {
    let close = slot.handle().close_signal().clone();
    let revoked = async move { close.closed().await };
    events.take_until(revoked).map(move |e| {
        let _held = &slot;
        e
    })
}

/// The sequence number a reconnecting client has already seen.
pub fn last_event_id(headers: &HeaderMap) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Counts open SSE streams in `chorus_sse_streams` while it lives.
struct StreamGauge;

impl StreamGauge {
    fn new() -> Self {
        metrics::gauge!("chorus_sse_streams").increment(1.0);
        StreamGauge
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("chorus_sse_streams").decrement(1.0);
    }
}

/// An SSE response of `events`, which carry their own names and ids, on
/// stream slot `slot`.
pub fn respond(
    slot: StreamLease,
    events: impl Stream<Item = GenEvent> + Send + 'static,
) -> Response {
    let gauge = StreamGauge::new();
    let stream = guarded(slot, events).map(move |e| {
        let _alive = &gauge;
        Ok::<_, Infallible>(
            Event::default()
                .event(e.name)
                .id(e.seq.to_string())
                .data(&*e.data),
        )
    });
    let sse = Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(10))
            .text("keep-alive"),
    );
    (
        [("x-accel-buffering", "no"), ("cache-control", "no-cache")],
        sse,
    )
        .into_response()
}

/// A generation's events after `after`, as SSE.
pub fn generation(slot: StreamLease, generation: &Arc<Generation>, after: u64) -> Response {
    respond(slot, generation.listen(after))
}
