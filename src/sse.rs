//! Server-sent events (API.md 0.5): a generation's events as an SSE
//! response, with keep-alive comments, no proxy buffering, and resumption
//! from `Last-Event-ID`.
//!
//! Every stream (SSE here, and WebSockets) holds one of its user's stream
//! slots ([`take_slot`]) while it runs, and ends when the credential it was
//! opened with is revoked.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_actors::connections::StreamLease;
use chorus_actors::replay::Generation;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorKind};
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
                ErrorKind::QuotaExceeded,
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

/// Counts an open SSE response while it lives: in `chorus_sse_streams`
/// and in its server's count of SSE streams (the admin dashboard's
/// `connections.sse`), reached through the response's stream slot.
pub(crate) struct StreamGauge {
    count: Arc<AtomicUsize>,
}

impl StreamGauge {
    /// Counts one more SSE response of the server `slot` was taken from.
    pub(crate) fn new(slot: &StreamLease) -> Self {
        metrics::gauge!("chorus_sse_streams").increment(1.0);
        let count = slot.sse_count();
        count.fetch_add(1, Ordering::Relaxed);
        StreamGauge { count }
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("chorus_sse_streams").decrement(1.0);
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a quiet stream waits before a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// An SSE response of ready-made `frames` (each one whole SSE frame, see
/// [`chorus_actors::replay::sse_frame`]) on stream slot `slot`: they are
/// written as they are, with a keep-alive comment when the stream is quiet.
pub fn respond(slot: StreamLease, frames: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    let gauge = StreamGauge::new(&slot);
    let quiet = Quiet::new();
    let state = (Box::pin(guarded(slot, frames)), gauge, quiet);
    let body = futures::stream::unfold(state, |(mut frames, gauge, mut quiet)| async move {
        let frame = loop {
            tokio::select! {
                biased;
                next = frames.next() => match next {
                    Some(frame) => {
                        quiet.sent();
                        break frame;
                    }
                    None => return None,
                },
                keep_alive = quiet.elapsed() => if keep_alive {
                    break Bytes::from_static(b":keep-alive\n\n");
                },
            }
        };
        Some((Ok::<_, Infallible>(frame), (frames, gauge, quiet)))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// When a stream last sent anything, and one timer that fires at most once
/// per [`KEEP_ALIVE`]: a frame only notes the time (a clock read), where a
/// timeout per frame would put a timer into tokio's wheel and take it out
/// again for every token of every stream.
struct Quiet {
    last: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Quiet {
    fn new() -> Self {
        let last = Instant::now();
        Quiet {
            last,
            timer: Box::pin(tokio::time::sleep_until(last + KEEP_ALIVE)),
        }
    }

    /// Notes that a frame went out now.
    fn sent(&mut self) {
        self.last = Instant::now();
    }

    /// Waits for the timer; whether the stream has been quiet for
    /// [`KEEP_ALIVE`] (then it counts as sent). If a frame went out
    /// meanwhile, the timer is set for that frame's quiet time instead.
    async fn elapsed(&mut self) -> bool {
        self.timer.as_mut().await;
        let due = self.last + KEEP_ALIVE;
        if Instant::now() < due {
            self.timer.as_mut().reset(due);
            return false;
        }
        self.sent();
        self.timer.as_mut().reset(self.last + KEEP_ALIVE);
        true
    }
}

/// A frame of only `data:` (OpenAI's stream, which names no events).
pub fn data_frame(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A generation's events after `after`, as SSE.
pub fn generation(slot: StreamLease, generation: &Arc<Generation>, after: u64) -> Response {
    respond(slot, generation.listen(after).map(|e| e.sse()))
}
