//! Issue 10, items 4 and 10: what one client can make the server hold
//! (channel history, rooms, frames, streams, connection slots, slow bodies).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{eventually, spawn_app_with};
use crate::ws_client::WsClient;

/// Publishes `n` messages of about `size` bytes to `channel`; their ids.
async fn publish(ws: &mut WsClient, channel: &str, n: usize, size: usize) -> Vec<Value> {
    let pad = "x".repeat(size);
    let mut ids = Vec::new();
    for i in 0..n {
        ws.send(json!({"type": "message", "channel": channel, "data": {"i": i, "pad": pad}}))
            .await;
        ids.push(ws.next_of("channel_message").await["id"].clone());
    }
    ids
}

/// Subscribes with `since` on a new socket: (`recovered`, data of each kept message).
async fn recover(ws: &mut WsClient, channel: &str, since: &Value) -> (Value, Vec<Value>) {
    ws.send(json!({"type": "subscribe", "channel": channel, "since": since}))
        .await;
    let sub = ws.next_of("subscribed").await;
    let kept = ws
        .sync()
        .await
        .iter()
        .map(|m| m["data"]["i"].clone())
        .collect();
    (sub["recovered"].clone(), kept)
}

#[tokio::test]
async fn room_history_past_the_byte_budget_drops_the_oldest_and_recovery_says_so() {
    let app = spawn_app_with(|c| c.ws.history_max_bytes = 4_000, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    ws.subscribe("room:old").await;
    ws.subscribe("room:new").await;
    // 5 x ~500 B in the old room, then 5 x ~500 B in the new one: ~5 KB
    // kept under a 4 KB budget, so the old room's first messages go.
    let old = publish(&mut ws, "room:old", 5, 500).await;
    let new = publish(&mut ws, "room:new", 5, 500).await;

    let mut late = app.ws(&ada.access).await;
    let (recovered, kept) = recover(&mut late, "room:old", &old[0]).await;
    assert_eq!(
        recovered, false,
        "dropped messages must not count as recovered"
    );
    assert!(kept.len() < 4, "the oldest were dropped: {kept:?}");
    let (recovered, kept) = recover(&mut late, "room:new", &new[0]).await;
    assert_eq!(recovered, true);
    assert_eq!(kept, (1..5).map(Value::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_user_cannot_create_rooms_past_the_cap() {
    let app = spawn_app_with(|c| c.ws.max_rooms_per_user = 3, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let mut a = app.ws(&ada.access).await;
    for n in 0..3 {
        assert_eq!(
            a.subscribe(&format!("room:r{n}")).await["type"],
            "subscribed"
        );
    }
    let refused = a.subscribe("room:r3").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("QUOTA_EXCEEDED")),
        "{refused}"
    );
    // Joining a room someone else made is no creation.
    let mut b = app.ws(&bob.access).await;
    assert_eq!(b.subscribe("room:bobs").await["type"], "subscribed");
    assert_eq!(a.subscribe("room:bobs").await["type"], "subscribed");
    // A room that is gone frees its slot.
    a.send(json!({"type": "unsubscribe", "channel": "room:r0"}))
        .await;
    a.next_of("unsubscribed").await;
    let again = a.subscribe("room:r3").await;
    assert_eq!(again["type"], "subscribed", "{again}");
    assert_eq!(a.subscribe("room:r4").await["code"], "QUOTA_EXCEEDED");
}

#[tokio::test]
async fn a_socket_cannot_publish_to_a_channel_it_has_not_subscribed() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let mut listener = app.ws(&bob.access).await;
    listener.subscribe("room:quiet").await;
    let mut intruder = app.ws(&ada.access).await;

    intruder
        .send(json!({"type": "message", "channel": "room:quiet", "data": "spam", "ref": 1}))
        .await;
    let refused = intruder.next().await;
    assert_eq!(
        (refused["type"].as_str(), refused["ref"].as_i64()),
        (Some("error"), Some(1)),
        "{refused}"
    );
    let seen = listener.sync().await;
    assert!(
        seen.iter().all(|m| m["type"] != "channel_message"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_socket_flooding_frames_is_rate_limited_then_closed() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    for _ in 0..1_000 {
        if ws.send_checked(json!({"type": "ping"})).await.is_err() {
            break;
        }
    }
    let mut limited = 0;
    let close = loop {
        match ws.next_or_close().await {
            Ok(m) if m["code"] == "RATE_LIMIT_EXCEEDED" => limited += 1,
            Ok(_) => {}
            Err(close) => break close,
        }
    };
    assert!(limited > 0, "no RATE_LIMIT_EXCEEDED before the close");
    assert_eq!(close.map(|(code, _)| code), Some(1008));
}

#[tokio::test]
async fn a_user_cannot_hold_more_streams_than_the_cap() {
    let app = spawn_app_with(|c| c.limits.max_streams_per_user = 2, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let first = app.ws(&ada.access).await;
    let _second = app.ws(&ada.access).await;
    assert_eq!(app.ws_refused(&app.ws_url(&ada.access)).await, 429);
    // SSE streams count too, and the refusal is in the envelope.
    let conversation = app.conversation(&ada.access, json!({"title": "t"})).await;
    let r = app
        .post_json(
            &format!("/conversations/{conversation}/chat"),
            Some(&ada.access),
            json!({"content": "hi"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    let body = crate::helpers::envelope(r).await;
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");
    // Someone else is not affected, and a closed socket frees its slot.
    app.ws(&bob.access).await;
    drop(first);
    eventually("a slot to free up", || async {
        tokio_tungstenite::connect_async(app.ws_url(&ada.access))
            .await
            .ok()
    })
    .await;
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_gets_408() {
    let app = spawn_app_with(|c| c.server.body_timeout_s = 1, axum::Router::new()).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\":",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // ...and nothing more.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server kept waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn live_and_ready_answer_when_every_connection_slot_is_taken() {
    let app = spawn_app_with(
        |c| {
            c.server.max_connections = 2;
            c.server.header_timeout_s = 60;
        },
        axum::Router::new(),
    )
    .await;
    // Two clients take both slots: each sends half a request and waits.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /live HTTP/1.1\r\nHost: chorus\r\n")
            .await
            .unwrap();
        held.push(stream);
    }

    for path in ["/live", "/ready"] {
        let probe = reqwest::Client::new();
        let r = tokio::time::timeout(Duration::from_secs(5), probe.get(app.url(path)).send())
            .await
            .unwrap_or_else(|_| panic!("{path} not answered with every slot taken"))
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // Other routes are not served from the reserve.
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new()
            .get(app.url("/api/v1/auth/me"))
            .send(),
    )
    .await
    .expect("answered")
    .unwrap();
    assert_eq!(r.status(), 503);
}
