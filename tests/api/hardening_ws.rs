//! Issue 10, item 3: a socket (or an SSE stream) does not outlive the
//! credential it was opened with.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, eventually, spawn_app, spawn_app_with, sse_events};
use crate::ws_client::WsClient;

/// How soon a revoked socket must be closed (the bound).
const REVOKED_WITHIN: Duration = Duration::from_secs(1);

/// The close code and reason the server sent, read within `within`.
async fn closed(ws: &mut WsClient, within: Duration) -> (u16, String) {
    let frame = tokio::time::timeout(within, ws.close_frame())
        .await
        .expect("the socket was not closed in time")
        .expect("a close frame");
    (u16::from(frame.code), frame.reason.to_string())
}

/// The id of the session `token` belongs to.
async fn session_of(app: &TestApp, token: &str) -> String {
    let list = app.get_json("/auth/sessions", token).await;
    let current = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .expect("a current session");
    current["id"].as_str().unwrap().to_string()
}

/// Whether the socket still answers a ping.
async fn still_open(ws: &mut WsClient) {
    ws.sync().await;
}

#[tokio::test]
async fn logging_out_closes_the_sockets_opened_with_that_token() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let other = app.login("ada").await;
    let mut a = app.ws(&ada.access).await;
    let mut kept = app.ws(&other.access).await;

    let r = app
        .post_json("/auth/logout", Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        closed(&mut a, REVOKED_WITHIN).await,
        (1008, "revoked".into())
    );
    still_open(&mut kept).await;
}

#[tokio::test]
async fn revoking_a_session_closes_its_sockets() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let laptop = app.login("ada").await;
    let mut phone_socket = app.ws(&ada.access).await;
    let sid = session_of(&app, &ada.access).await;

    let r = app
        .send(
            Method::DELETE,
            &format!("/auth/sessions/{sid}"),
            Some(&laptop.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        closed(&mut phone_socket, REVOKED_WITHIN).await,
        (1008, "revoked".into())
    );
}

#[tokio::test]
async fn changing_the_password_closes_the_sockets_of_the_other_sessions() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let thief = app.login("ada").await;
    let mut mine = app.ws(&ada.access).await;
    let mut theirs = app.ws(&thief.access).await;

    let r = app
        .send(
            Method::PUT,
            "/auth/profile/password",
            Some(&ada.access),
            Some(json!({"current_password": "password-ada", "new_password": "a-new-password-1"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        closed(&mut theirs, REVOKED_WITHIN).await,
        (1008, "revoked".into())
    );
    still_open(&mut mine).await;
}

/// `root` (the first account, superadmin) and a signed-in `ada`.
async fn root_and_ada(app: &TestApp) -> (Session, Session) {
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    (root, ada)
}

/// Ada's new API key: (id, key).
async fn api_key(app: &TestApp, ada: &Session, name: &str) -> (String, String) {
    let r = app
        .post_json("/api-keys", Some(&ada.access), json!({ "name": name }))
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    (
        made["id"].as_str().unwrap().to_string(),
        made["key"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn deactivating_a_user_closes_every_socket_of_theirs() {
    let app = spawn_app().await;
    let (root, ada) = root_and_ada(&app).await;
    let (_, key) = api_key(&app, &ada, "bot").await;
    let mut by_token = app.ws(&ada.access).await;
    let mut by_key = app.ws(&key).await;

    let r = app
        .post_json(
            &format!("/admin/users/{}/deactivate", ada.user_id),
            Some(&root.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    for ws in [&mut by_token, &mut by_key] {
        assert_eq!(closed(ws, REVOKED_WITHIN).await, (1008, "revoked".into()));
    }
}

#[tokio::test]
async fn deleting_an_api_key_closes_the_sockets_opened_with_it() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let (id, key) = api_key(&app, &ada, "ci").await;
    let (_, other_key) = api_key(&app, &ada, "other").await;
    let mut doomed = app.ws(&key).await;
    let mut kept = app.ws(&other_key).await;

    let r = app
        .send(
            Method::DELETE,
            &format!("/api-keys/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        closed(&mut doomed, REVOKED_WITHIN).await,
        (1008, "revoked".into())
    );
    still_open(&mut kept).await;
}

#[tokio::test]
async fn logging_out_ends_the_sse_streams_of_that_session() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            "/jobs",
            Some(&ada.access),
            json!({"job_type": "delay", "payload": {"seconds": 30}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    let r = app
        .get_as(&format!("/jobs/{id}/events/stream"), &ada.access)
        .await;
    assert_eq!(r.status(), 200);
    let mut events = sse_events(r);
    assert_eq!(events.next().await.unwrap().event, "created");

    let r = app
        .post_json("/auth/logout", Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream outlived its session");
}

/// Unix seconds now.
fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires_unless_it_sent_a_fresh_one() {
    let app = spawn_app_with(|c| c.auth.access_ttl_s = 3, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let issued = now_s();
    let mut stale = app.ws(&ada.access).await;
    let mut renewed = app.ws(&ada.access).await;

    // A bad token is refused and changes nothing.
    renewed
        .send(json!({"type": "auth", "token": "not-a-token", "ref": 1}))
        .await;
    let refused = renewed.next().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("AUTHENTICATION_ERROR")),
        "{refused}"
    );
    // A fresh token (issued two seconds later, so it lives two seconds longer).
    eventually("the clock to move on", || async {
        (now_s() >= issued + 2).then_some(())
    })
    .await;
    let fresh = app.login("ada").await;
    renewed
        .send(json!({"type": "auth", "token": fresh.access, "ref": 2}))
        .await;
    let ack = renewed.next().await;
    assert_eq!(ack["type"], "authenticated", "{ack}");
    assert_eq!(ack["ref"], 2);

    assert_eq!(
        closed(&mut stale, Duration::from_secs(10)).await,
        (1008, "token expired".into())
    );
    // The renewed one outlives the first token...
    still_open(&mut renewed).await;
    // ...and is closed in its turn when the fresh token expires.
    assert_eq!(
        closed(&mut renewed, Duration::from_secs(10)).await,
        (1008, "token expired".into())
    );
}

#[tokio::test]
async fn a_chat_over_a_socket_sees_the_allowance_set_after_it_opened() {
    let app = spawn_app().await;
    let (root, ada) = root_and_ada(&app).await;
    let conversation = app.conversation(&ada.access, json!({"title": "t"})).await;
    let mut ws = app.ws(&ada.access).await;

    let r = app
        .send(
            Method::PATCH,
            &format!("/admin/users/{}", ada.user_id),
            Some(&root.access),
            Some(json!({"monthly_token_allowance": 0})),
        )
        .await;
    assert_eq!(r.status(), 200);
    ws.send(json!({"type": "chat", "conversation_id": conversation, "content": "hi", "ref": 5}))
        .await;
    let reply = loop {
        let m = ws.next().await;
        if m["type"] == "error" || m["type"].as_str().is_some_and(|t| t.starts_with("chat.")) {
            break m;
        }
    };
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("QUOTA_EXCEEDED")),
        "{reply}"
    );
}
