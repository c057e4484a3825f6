//! One WebSocket's life at the edge: a reader (this task) hands frames to
//! the connection's actor; a writer task drains its bounded outbox, pings,
//! and sends the close frame: 1008 for a slow consumer, a revoked or
//! expired credential or a client over its frame rate, 1009 for an
//! oversized frame, 1007 for invalid UTF-8, 1001 at shutdown.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use chorus_actors::ErrorKind;
use chorus_actors::channels::{CloseSignal, OutboxRx};
use chorus_actors::connections::StreamLease;
use chorus_actors::connections::streams::TOKEN_EXPIRED;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

use crate::auth::CurrentUser;
use crate::state::AppState;

/// Frames written per flush when the outbox has a backlog.
const BATCH: usize = 64;
/// How long a closing socket gets to take its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Close code and reason for a client that kept on past its frame rate.
const RATE_LIMITED: (u16, &str) = (1008, "rate limit exceeded");

/// When the client was last heard from, in ms since `start`.
struct Liveness {
    start: Instant,
    last_ms: AtomicU64,
}

impl Liveness {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Serves one upgraded socket, on stream slot `slot`, until it closes.
pub async fn run(socket: WebSocket, state: AppState, me: CurrentUser, slot: StreamLease) {
    let tracker = state.ws_tasks.clone();
    tracker.track_future(serve(socket, state, me, slot)).await;
}

async fn serve(socket: WebSocket, state: AppState, me: CurrentUser, slot: StreamLease) {
    let connections = state.core.connections().clone();
    let stream_slot = slot.handle().clone();
    let (id, outbox) = connections.open(me.user, stream_slot.clone());
    let (sink, stream) = socket.split();
    let close = outbox.close.clone();
    let liveness = Arc::new(Liveness::new());
    let ws = &state.config.ws;
    let heartbeat = Heartbeat {
        every: Duration::from_secs(ws.ping_interval_s.max(1)),
        timeout: Duration::from_secs(ws.pong_timeout_s.max(1)),
    };
    let writer = tokio::spawn(write(
        sink,
        outbox,
        heartbeat,
        liveness.clone(),
        state.shutdown.clone(),
    ));
    let limit = FrameLimit::new(ws.frames_per_s);
    let expiry = async {
        stream_slot.expired().await;
        close.close(TOKEN_EXPIRED.0, TOKEN_EXPIRED.1);
    };
    tokio::select! {
        () = read(stream, &connections, id, &close, &liveness, &limit) => {}
        () = expiry => {}
    }
    connections.closed(id);
    drop(slot);
    // The client went away: the writer has nothing more to do.
    close.close(1000, "");
    let _ = writer.await;
}

async fn read(
    mut stream: SplitStream<WebSocket>,
    connections: &chorus_actors::connections::Connections,
    id: u64,
    close: &CloseSignal,
    liveness: &Liveness,
    limit: &FrameLimit,
) {
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = close.closed() => return,
        };
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                if let Some((code, reason)) = close_for(&e) {
                    close.close(code, reason);
                }
                return;
            }
            None => return,
        };
        liveness.touch();
        let text = match msg {
            Message::Text(text) => Some(text.as_str().to_owned()),
            Message::Binary(_) => None,
            // tungstenite answers pings itself; a pong is proof of life.
            Message::Ping(_) | Message::Pong(_) => continue,
            // tungstenite answers the close handshake itself.
            Message::Close(_) => return,
        };
        match limit.check() {
            Verdict::Pass => {}
            Verdict::Refuse => {
                connections.reply_error(
                    id,
                    ErrorKind::RateLimitExceeded,
                    "too many frames; slow down",
                );
                continue;
            }
            Verdict::Close => {
                close.close(RATE_LIMITED.0, RATE_LIMITED.1);
                return;
            }
        }
        let handed = match text {
            Some(text) => connections.receive_text(id, text).await,
            None => connections.receive_binary(id).await,
        };
        if handed.is_err() {
            close.close(1011, "connection unavailable");
            return;
        }
    }
}

/// The close code for a read error that has one (RFC 6455 7.4.1).
fn close_for(e: &axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::{CapacityError, Error};
    let inner = std::error::Error::source(e)?;
    match inner.downcast_ref::<Error>()? {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Some((1009, "message too big")),
        Error::Capacity(_) => Some((1009, "message too big")),
        Error::Utf8(_) => Some((1007, "invalid UTF-8")),
        Error::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

#[derive(Clone, Copy)]
struct Heartbeat {
    every: Duration,
    timeout: Duration,
}

async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbox: OutboxRx,
    heartbeat: Heartbeat,
    liveness: Arc<Liveness>,
    shutdown: CancellationToken,
) {
    let close = outbox.close.clone();
    let mut ping = tokio::time::interval(heartbeat.every);
    ping.reset();
    // Registered once, not once per frame: fan-out wakes this loop a lot.
    let closed = close.closed();
    let stopping = shutdown.cancelled();
    tokio::pin!(closed, stopping);
    loop {
        tokio::select! {
            biased;
            () = &mut closed => break,
            () = &mut stopping => {
                close.close(1001, "server shutting down");
                break;
            }
            frame = outbox.frames.recv() => {
                let Some(frame) = frame else { break };
                let written = tokio::select! {
                    written = write_batch(&mut sink, frame, &mut outbox) => written,
                    // A client that stopped reading must not hold its writer.
                    () = &mut closed => break,
                };
                if written.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if liveness.silent_for() > heartbeat.timeout {
                    close.close(1001, "pong timeout");
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
    let reason = close.reason();
    if reason == Some(RATE_LIMITED) {
        // What was queued before (the `error`s that warned it) goes first.
        let flushed = async {
            while let Ok(frame) = outbox.frames.try_recv() {
                sink.feed(text(frame)).await?;
            }
            sink.flush().await
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, flushed).await;
    }
    if let Some((code, reason)) = reason.filter(|(code, _)| *code != 1000) {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        let _ = tokio::time::timeout(CLOSE_WAIT, sink.send(frame)).await;
    } else {
        let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
    }
}

/// Writes `first` and whatever else is queued (up to [`BATCH`]), then flushes once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: axum::body::Bytes,
    outbox: &mut OutboxRx,
) -> Result<(), axum::Error> {
    sink.feed(text(first)).await?;
    for _ in 1..BATCH {
        match outbox.frames.try_recv() {
            Ok(frame) => sink.feed(text(frame)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}

fn text(frame: axum::body::Bytes) -> Message {
    // Frames are JSON built by serde_json: always UTF-8.
    Message::Text(Utf8Bytes::try_from(frame).unwrap_or_default())
}

/// What becomes of one frame under the socket's rate limit.
enum Verdict {
    Pass,
    /// Over the limit: dropped, with an `error`.
    Refuse,
    /// Over it for too long: the socket is closed.
    Close,
}

/// A socket's frame rate limit (`ws.frames_per_s`, bursts of twice that).
/// Refused frames draw on a second bucket of one second's worth of frames
/// that refills over a minute: a client that keeps on past it is closed.
struct FrameLimit {
    frames: DefaultDirectRateLimiter,
    refusals: DefaultDirectRateLimiter,
}

impl FrameLimit {
    fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            frames: governor::RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            refusals: governor::RateLimiter::direct(Quota::per_minute(rate).allow_burst(rate)),
        }
    }

    fn check(&self) -> Verdict {
        if self.frames.check().is_ok() {
            Verdict::Pass
        } else if self.refusals.check().is_ok() {
            Verdict::Refuse
        } else {
            Verdict::Close
        }
    }
}
