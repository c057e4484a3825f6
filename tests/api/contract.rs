//! Where the code disagreed with API.md (issue 11, section 6).

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{LONG, slow_echo, spawn_app, spawn_app_with};

#[tokio::test]
async fn tags_are_listed_newest_first_like_every_list() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    for name in ["first", "second", "third"] {
        let r = app
            .post_json("/tags", Some(&ada.access), json!({ "name": name }))
            .await;
        assert_eq!(r.status(), 201);
    }
    let page: Value = app.get_json("/tags?limit=2", &ada.access).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["third", "second"]);
    assert_eq!(page["total"], 3);
}

#[tokio::test]
async fn a_chat_start_over_ws_names_its_conversation_once() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({"title": "ws"})).await;
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "chat", "conversation_id": conv, "content": LONG}))
        .await;
    // The client fails on any frame with a repeated key.
    let start = ws.next_of("chat.start").await;
    assert_eq!(start["conversation_id"], conv.as_str());
    // The SSE `start` event carries exactly the fields API.md 4.1 lists.
    let r = app
        .get_as(&format!("/conversations/{conv}/stream"), &ada.access)
        .await;
    let first = crate::helpers::sse_events(r)
        .next()
        .await
        .expect("an event");
    assert_eq!(first.event, "start");
    let data = first.data;
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["message_id", "model", "provider", "user_message_id"]);
}
