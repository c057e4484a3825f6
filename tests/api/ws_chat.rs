//! Chat over the WebSocket (API.md 6) and the server-side publish API.

use axum::extract::{Path, State};
use axum::routing::post;
use chorus::state::AppState;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    LONG, TestApp, eventually, slow_echo, spawn_app_with, sse_events, until_done,
};
use crate::ws_client::WsClient;

/// Reads `chat.*` messages until `chat.done` (or `chat.error`).
async fn chat_events(ws: &mut WsClient) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let msg = ws.next().await;
        let kind = msg["type"].as_str().unwrap_or_default().to_string();
        if !kind.starts_with("chat.") {
            continue;
        }
        events.push(msg);
        if kind == "chat.done" || kind == "chat.error" {
            return events;
        }
    }
}

fn tokens(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "chat.token")
        .map(|e| e["token"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn chat_over_ws_streams_to_the_sender_and_an_sse_listener_alike() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({"title": "ws"})).await;
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "chat", "conversation_id": conv, "content": LONG, "ref": 1}))
        .await;
    let start = ws.next_of("chat.start").await;
    assert_eq!(start["conversation_id"], conv.as_str());
    assert!(start["message_id"].is_string(), "{start}");

    // A second tab attaches over SSE to the same generation.
    let sse = app
        .get_as(&format!("/conversations/{conv}/stream"), &ada.access)
        .await;
    assert_eq!(sse.status(), 200);
    let sse_events = until_done(&mut sse_events(sse)).await;

    let mut events = vec![start];
    events.extend(chat_events(&mut ws).await);
    let done = events.last().unwrap().clone();
    assert_eq!(done["type"], "chat.done");
    assert_eq!(done["cancelled"], false);
    assert_eq!(done["full_response"], tokens(&events).as_str());
    assert_eq!(done["full_response"], LONG);
    let sse_done = &sse_events.last().unwrap().data;
    assert_eq!(sse_done["full_response"], done["full_response"]);
    assert_eq!(sse_done["message_id"], done["message_id"]);

    let page: Value = app
        .get_json(&format!("/conversations/{conv}/messages"), &ada.access)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_chat_started_over_http_reaches_subscribers_of_the_conversation() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut watcher = app.ws(&ada.access).await;
    watcher.subscribe(&format!("conversation:{conv}")).await;
    let r = app.chat(&ada.access, &conv, "hello over there").await;
    until_done(&mut sse_events(r)).await;
    let events = chat_events(&mut watcher).await;
    assert_eq!(events.first().unwrap()["type"], "chat.start");
    assert_eq!(tokens(&events), "hello over there");
}

#[tokio::test]
async fn a_second_chat_is_busy_and_cancel_ends_the_first() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "chat", "conversation_id": conv, "content": LONG}))
        .await;
    ws.next_of("chat.start").await;
    ws.send(json!({"type": "chat", "conversation_id": conv, "content": "again", "ref": "second"}))
        .await;
    let busy = ws.next_of("error").await;
    assert_eq!(busy["code"], "CONVERSATION_BUSY");
    assert_eq!(busy["ref"], "second");

    ws.send(json!({"type": "cancel", "conversation_id": conv}))
        .await;
    let done = ws.next_of("chat.done").await;
    assert_eq!(done["cancelled"], true, "{done}");
    assert_ne!(done["full_response"], LONG);
}

#[tokio::test]
async fn chat_in_a_conversation_of_someone_else_is_refused() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut ws = app.ws(&bob.access).await;
    ws.send(json!({"type": "chat", "conversation_id": conv, "content": "hi", "ref": 1}))
        .await;
    let e = ws.next().await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("NOT_FOUND"), Some(1))
    );
    ws.send(json!({"type": "cancel", "conversation_id": conv, "ref": 2}))
        .await;
    let e = ws.next().await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("NOT_FOUND"), Some(2))
    );
}

/// A route standing in for a job or an admin tool: publishes through the core.
async fn notify(State(state): State<AppState>, Path(user): Path<Uuid>) -> axum::Json<Value> {
    let channels = state.core.channels();
    let sent = channels.notify_user(user, &json!({"title": "job finished"}))
        + channels.job_update(
            user,
            &json!({"id": "j1", "status": "completed", "progress_percent": 100}),
        );
    axum::Json(json!({ "sent": sent }))
}

#[tokio::test]
async fn the_server_side_publish_api_reaches_every_socket_of_one_user() {
    let extra = axum::Router::new().route("/test/notify/{user}", post(notify));
    let app = spawn_app_with(|_| {}, extra).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let mut tabs = [app.ws(&ada.access).await, app.ws(&ada.access).await];
    let mut other = app.ws(&bob.access).await;

    let sent = post_notify(&app, &ada.user_id).await;
    assert_eq!(sent, 4, "two messages to each of two sockets");
    for tab in &mut tabs {
        let n = tab.next().await;
        assert_eq!(
            n,
            json!({"type": "notification", "data": {"title": "job finished"}})
        );
        let j = tab.next().await;
        assert_eq!(j["type"], "job.update");
        assert_eq!(j["job"]["status"], "completed");
    }
    assert!(other.sync().await.is_empty());
    // A closed socket no longer counts.
    drop(tabs);
    eventually("sockets gone", || async {
        (post_notify(&app, &ada.user_id).await == 0).then_some(())
    })
    .await;
}

async fn post_notify(app: &TestApp, user: &str) -> u64 {
    let r: Value = app
        .client
        .post(app.url(&format!("/test/notify/{user}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["sent"].as_u64().unwrap()
}

#[tokio::test]
async fn chats_over_ws_share_the_ai_rate_limit() {
    let app = spawn_app_with(|c| c.rate_limits.ai = 1, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let first = app.conversation(&ada.access, json!({})).await;
    let second = app.conversation(&ada.access, json!({})).await;
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "chat", "conversation_id": first, "content": "hi"}))
        .await;
    ws.next_of("chat.done").await;
    ws.send(json!({"type": "chat", "conversation_id": second, "content": "hi", "ref": 2}))
        .await;
    let e = ws.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("RATE_LIMIT_EXCEEDED"), Some(2))
    );
}
