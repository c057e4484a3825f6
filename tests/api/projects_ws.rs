//! `project:{id}` channels (API.md 6 and 8): open to the project's owner
//! while it is live; its changes arrive there as channel messages.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::ws_client::WsClient;

/// The `data` of the next channel message on `channel`.
async fn next_event(ws: &mut WsClient, channel: &str) -> Value {
    loop {
        let msg = ws.next_of("channel_message").await;
        if msg["channel"] == channel {
            assert_eq!(msg["sender_id"], Value::Null, "sent by the server: {msg}");
            return msg["data"].clone();
        }
    }
}

fn assert_event(data: &Value, kind: &str, project: &str, resource: &str, id: &Value) {
    assert_eq!(data["type"], kind, "{data}");
    assert_eq!(data["project_id"], project, "{data}");
    assert_eq!(data["resource"], resource, "{data}");
    assert_eq!(&data["id"], id, "{data}");
}

#[tokio::test]
async fn the_owner_receives_a_projects_changes_and_nobody_else_may_listen() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let t = Some(ada.access.as_str());
    let project = app.project(&ada.access, json!({"name": "garden"})).await;
    let pid = project["id"].as_str().unwrap();
    let channel = format!("project:{pid}");

    // Its creation was published before anyone could subscribe: it is kept
    // for recovery like any channel message.
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "subscribe", "channel": channel, "since": "0", "ref": 1}))
        .await;
    let subscribed = ws.next().await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    let created = next_event(&mut ws, &channel).await;
    assert_event(&created, "project.created", pid, "project", &json!(pid));

    let mut other = app.ws(&bob.access).await;
    let refused = other.subscribe(&channel).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("AUTHORIZATION_ERROR")),
        "{refused}"
    );

    let path = format!("/projects/{pid}");
    let r = app
        .send(
            Method::PATCH,
            &path,
            t,
            Some(json!({"description": "roses"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let updated = next_event(&mut ws, &channel).await;
    assert_event(&updated, "project.updated", pid, "project", &json!(pid));

    let r = app
        .post_json(
            "/conversations",
            t,
            json!({"title": "in it", "project_id": pid}),
        )
        .await;
    let conv: Value = r.json().await.unwrap();
    let added = next_event(&mut ws, &channel).await;
    assert_event(
        &added,
        "conversation.added",
        pid,
        "conversation",
        &conv["id"],
    );

    let moved = app
        .conversation(&ada.access, json!({"title": "moved"}))
        .await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/conversations/{moved}"),
            t,
            Some(json!({"project_id": pid})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let added = next_event(&mut ws, &channel).await;
    assert_event(
        &added,
        "conversation.added",
        pid,
        "conversation",
        &json!(moved),
    );

    let r = app
        .post_json(
            "/documents",
            t,
            json!({"title": "a.md", "text": "seeds", "project_id": pid}),
        )
        .await;
    let doc: Value = r.json().await.unwrap();
    let added = next_event(&mut ws, &channel).await;
    assert_event(
        &added,
        "document.added",
        pid,
        "document",
        &doc["document_id"],
    );

    assert_eq!(app.send(Method::DELETE, &path, t, None).await.status(), 204);
    let deleted = next_event(&mut ws, &channel).await;
    assert_event(&deleted, "project.deleted", pid, "project", &json!(pid));

    // Bob saw none of it; a deleted project's channel refuses even its owner.
    assert!(
        other
            .sync()
            .await
            .iter()
            .all(|m| m["type"] != "channel_message"),
        "another user got a project event"
    );
    let mut again = app.ws(&ada.access).await;
    let refused = again.subscribe(&channel).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("AUTHORIZATION_ERROR")),
        "{refused}"
    );
}
