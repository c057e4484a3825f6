//! Backpressure: a client that stops reading is closed with 1008 and slows
//! nobody else down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{eventually, spawn_app_with};
use crate::ws_client::WsClient;

const FAST: usize = 100;
const CHUNK: usize = 250;
/// Far past the default queue of 1024 plus what the kernel buffers hold.
const MAX_BURST: usize = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_with_1008_and_the_others_get_every_message() {
    let app = spawn_app_with(
        |c| {
            c.rate_limits.default = 100_000;
            // One user holds every socket here, and the publisher bursts.
            c.limits.max_streams_per_user = 1_000;
            c.ws.frames_per_s = 100_000;
        },
        axum::Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;

    // The slow one: a tiny receive buffer, and it reads nothing during the burst.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (socket, _) = tokio_tungstenite::client_async(app.ws_url(&ada.access), stream)
        .await
        .unwrap();
    let mut slow = WsClient {
        socket,
        hello: Value::Null,
    };
    assert_eq!(slow.next().await["type"], "connected");
    assert_eq!(slow.subscribe("room:burst").await["type"], "subscribed");

    let mut fast = Vec::with_capacity(FAST);
    for _ in 0..FAST {
        let mut ws = app.ws(&ada.access).await;
        assert_eq!(ws.subscribe("room:burst").await["type"], "subscribed");
        fast.push(ws);
    }
    // Every fast subscriber reads all along and must get every message, in
    // order, until the `end` marker.
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..FAST).map(|_| AtomicUsize::new(0)).collect());
    let readers: Vec<_> = fast
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let m = ws.next_of("channel_message").await;
                    if m["data"]["end"] == true {
                        return got;
                    }
                    got.push(m["data"]["n"].as_u64().unwrap());
                    counts[i].store(got.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut publisher = app.ws(&ada.access).await;
    // Publishing needs a subscription; the publisher reads its own copies.
    assert_eq!(
        publisher.subscribe("room:burst").await["type"],
        "subscribed"
    );
    let (mut publisher, mut own_copies) = publisher.socket.split();
    tokio::spawn(async move { while own_copies.next().await.is_some() {} });
    let padding = "x".repeat(2000);
    let mut sent = 0;
    while !slow_consumer_cut(&app).await {
        assert!(sent < MAX_BURST, "the slow consumer was never cut off");
        for n in sent..sent + CHUNK {
            let msg = json!({"type": "message", "channel": "room:burst", "data": {"n": n, "pad": padding}});
            publisher
                .send(Message::text(msg.to_string()))
                .await
                .unwrap();
        }
        sent += CHUNK;
        // The others keep up; only the slow one's queue grows.
        eventually("every fast reader to catch up", || {
            let counts = counts.clone();
            async move {
                counts
                    .iter()
                    .all(|c| c.load(Ordering::Relaxed) >= sent)
                    .then_some(())
            }
        })
        .await;
    }
    let end = json!({"type": "message", "channel": "room:burst", "data": {"end": true}});
    publisher
        .send(Message::text(end.to_string()))
        .await
        .unwrap();
    eprintln!("slow consumer cut off after {sent} messages");
    let expected: Vec<u64> = (0..sent as u64).collect();
    for got in join_all(readers).await {
        assert_eq!(got.unwrap(), expected);
    }

    let close = tokio::time::timeout(Duration::from_secs(20), slow.close_frame())
        .await
        .unwrap();
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "slow consumer");
}

async fn slow_consumer_cut(app: &crate::helpers::TestApp) -> bool {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .any(|l| l.starts_with("chorus_ws_slow_consumers_total") && !l.ends_with(" 0"))
}
