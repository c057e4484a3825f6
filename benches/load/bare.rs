//! The same-run baseline of the performance targets: a bare axum 0.8 server
//! with a `GET /live` answering JSON and a `POST /append` that inserts the
//! body into sled and waits for a one-flusher group commit. No auth, no
//! validation, no ids, no records: what the hardware and the crates give
//! before chorus does any work of its own. Its `/api/v1/ws` is the fan-out
//! baseline: every text frame that is not a `subscribe` goes to every open
//! socket through one tokio broadcast channel, one write per socket per
//! message, as in axum's own chat example. Its `/v1/chat/completions` is the
//! gateway baseline: the body forwarded with reqwest to the upstream in
//! `CHORUS_BENCH_BARE_UPSTREAM`, the SSE answer's deltas joined into one
//! `chat.completion` JSON (no auth, no usage records, no ids). Its
//! `POST /stream` is the SSE baseline: `start`, a word of the body's
//! `content` every 50 ms as a `token` event, then `done` (no auth, no
//! records, no provider).
//!
//! It runs as its own process (the bench executable started again with
//! `CHORUS_BENCH_BARE_DIR` set), so its CPU time is read apart from the
//! load generator's and the server's. Every bench that uses it calls
//! [`serve_if_asked`] first thing in `main`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};

const DIR_VAR: &str = "CHORUS_BENCH_BARE_DIR";
const UPSTREAM_VAR: &str = "CHORUS_BENCH_BARE_UPSTREAM";

/// The bare server started as a child process. Killed when dropped.
pub struct Bare {
    pub child: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bare {
    /// Starts the bare server on 127.0.0.1:0 with a fresh sled dir.
    pub fn start() -> Self {
        Self::start_with_upstream("")
    }

    /// As [`Bare::start`], its `/v1/chat/completions` forwarding to `upstream`.
    pub fn start_with_upstream(upstream: &str) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env(DIR_VAR, dir.path())
            .env(UPSTREAM_VAR, upstream)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the bare server did not start")
            .to_string();
        Self {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// In the child process: serves the bare server forever. In the bench
/// itself: returns at once.
pub fn serve_if_asked() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let commit = start_flusher(db.clone());
        let next = Arc::new(AtomicU64::new(0));
        let (room, _) = broadcast::channel::<Utf8Bytes>(4096);
        let upstream = format!(
            "{}/v1/chat/completions",
            std::env::var(UPSTREAM_VAR).unwrap_or_default()
        );
        let http = reqwest::Client::new();
        let app = Router::new()
            .route(
                "/live",
                get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/append",
                post(move |body: Bytes| {
                    let (db, commit, next) = (db.clone(), commit.clone(), next.clone());
                    async move {
                        let key = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
                        db.insert(key, body.as_ref()).unwrap();
                        let (tx, rx) = oneshot::channel();
                        commit.send(tx).unwrap();
                        rx.await.unwrap();
                        StatusCode::CREATED
                    }
                }),
            )
            .route(
                "/v1/chat/completions",
                post(move |body: Bytes| {
                    let (http, upstream) = (http.clone(), upstream.clone());
                    async move { proxy(&http, &upstream, body).await }
                }),
            )
            .route(
                "/stream",
                post(
                    |axum::Json(body): axum::Json<serde_json::Value>| async move {
                        stream_words(body["content"].as_str().unwrap_or_default().to_owned())
                    },
                ),
            )
            .route(
                "/api/v1/ws",
                get(move |upgrade: WebSocketUpgrade| {
                    let room = room.clone();
                    async move { upgrade.on_upgrade(move |socket| fan_out(socket, room)) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
    std::process::exit(0);
}

/// One thread flushes for every writer waiting: the group commit.
fn start_flusher(db: sled::Db) -> mpsc::UnboundedSender<oneshot::Sender<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    std::thread::spawn(move || {
        while let Some(first) = rx.blocking_recv() {
            let mut waiters = vec![first];
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
            db.flush().unwrap();
            for w in waiters {
                let _ = w.send(());
            }
        }
    });
    tx
}

/// One socket of the bare fan-out: publishes what it is sent, writes what
/// the room carries.
async fn fan_out(mut socket: WebSocket, room: broadcast::Sender<Utf8Bytes>) {
    let mut rx = room.subscribe();
    let hello = Message::Text(Utf8Bytes::from_static(r#"{"type":"connected"}"#));
    if socket.send(hello).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if !text.as_str().contains("subscribe") => {
                    let _ = room.send(text);
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            outgoing = rx.recv() => match outgoing {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// The bare token stream, in the shape of a chorus chat's: a `start`
/// event at once, then one `token` event per word of `content` every
/// 50 ms (20 tokens/s, as echo in the chat bench), then `done` right after
/// the last word. No records, no provider, no listener of a broadcast.
fn stream_words(content: String) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let words: Vec<String> = content.split_whitespace().map(str::to_owned).collect();
    let tick = tokio::time::interval(Duration::from_millis(50));
    let start = Event::default()
        .event("start")
        .data(r#"{"provider":"bare"}"#);
    let events = futures::stream::unfold((0, words, tick), |(i, words, mut tick)| async move {
        if i > words.len() {
            return None;
        }
        let event = match words.get(i) {
            Some(word) => {
                tick.tick().await;
                let delta = if i + 1 == words.len() {
                    word.clone()
                } else {
                    format!("{word} ")
                };
                Event::default()
                    .event("token")
                    .id(i.to_string())
                    .data(serde_json::json!({"seq": i, "delta": delta}).to_string())
            }
            None => Event::default().event("done").data("{}"),
        };
        Some((Ok(event), (i + 1, words, tick)))
    });
    Sse::new(futures::stream::once(async { Ok(start) }).chain(events))
}

/// The bare gateway: forwards `body` upstream and joins the SSE deltas.
async fn proxy(
    http: &reqwest::Client,
    upstream: &str,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    let answer = http
        .post(upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut content = String::new();
    let mut usage = serde_json::Value::Null;
    for data in answer.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(chunk) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(delta);
        }
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
    }
    axum::Json(serde_json::json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage,
    }))
}
