//! Server-sent events (API.md 0.5): a generation's events as an SSE
//! response, with keep-alive comments, no proxy buffering, and resumption
//! from `Last-Event-ID`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chorus_actors::generation::{GenEvent, Generation};
use futures::{Stream, StreamExt};

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

/// An SSE response of `events`, which carry their own names and ids.
pub fn respond(events: impl Stream<Item = GenEvent> + Send + 'static) -> Response {
    let gauge = StreamGauge::new();
    let stream = events.map(move |e| {
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
pub fn generation(generation: &Arc<Generation>, after: u64) -> Response {
    respond(generation.listen(after))
}
