//! Chat in a conversation (API.md 4.1) end to end, with the echo provider
//! and a local OpenAI-compatible server.

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_llm::{Behaviour, FakeLlm};
use crate::helpers::{
    LONG, envelope, eventually, slow_echo, spawn_app_with, sse_events, until_done,
};

async fn messages(app: &crate::helpers::TestApp, token: &str, conv: &str) -> Vec<Value> {
    let page: Value = app
        .get_as(&format!("/conversations/{conv}/messages?limit=100"), token)
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_streamed_chat_sends_start_tokens_and_done_and_persists_both_messages() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({"title": "hi"})).await;
    let r = app.chat(&ada.access, &conv, "hello brave new world").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    let events = until_done(&mut sse_events(r)).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["start", "token", "token", "token", "token", "done"]);
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let done = &events[5].data;
    assert_eq!(done["full_response"], "hello brave new world");
    assert_eq!(done["cancelled"], false);
    assert_eq!(done["usage"]["completion_tokens"], 4);

    let stored = messages(&app, &ada.access, &conv).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0]["role"].as_str(), stored[1]["role"].as_str()),
        (Some("user"), Some("assistant"))
    );
    assert_eq!(stored[1]["content"], "hello brave new world");
    assert_eq!(stored[1]["id"], events[0].data["message_id"]);
    let conv_now: Value = app
        .get_as(&format!("/conversations/{conv}"), &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conv_now["message_count"], 2);
}

#[tokio::test]
async fn a_non_streamed_chat_answers_both_messages_and_usage() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let r = app
        .post_json(
            &format!("/conversations/{conv}/chat"),
            Some(&ada.access),
            json!({"content": "just two", "stream": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"]["content"], "just two");
    assert_eq!(body["message"]["status"], "complete");
    assert_eq!(body["user_message"]["role"], "user");
    assert_eq!(body["usage"]["total_tokens"], 4);
}

#[tokio::test]
async fn two_simultaneous_chats_in_one_conversation_give_exactly_one_busy() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let (a, b) = tokio::join!(
        app.chat(&ada.access, &conv, LONG),
        app.chat(&ada.access, &conv, LONG)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 429]);
    let busy = if a.status() == 429 { a } else { b };
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(envelope(busy).await["error"]["code"], "CONVERSATION_BUSY");
}

#[tokio::test]
async fn a_client_that_disconnects_still_gets_its_answer_persisted() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut events = sse_events(app.chat(&ada.access, &conv, LONG).await);
    let first_two: Vec<_> = (&mut events).take(2).collect().await;
    assert_eq!(first_two[1].event, "token");
    drop(events); // the client goes away mid-answer

    let answer = eventually("the full answer persisted", || async {
        let stored = messages(&app, &ada.access, &conv).await;
        stored.iter().find(|m| m["role"] == "assistant").cloned()
    })
    .await;
    assert_eq!(answer["content"], LONG);
    assert_eq!(answer["status"], "complete");
}

#[tokio::test]
async fn resuming_with_last_event_id_gives_every_later_event_once() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut events = sse_events(app.chat(&ada.access, &conv, LONG).await);
    let seen: Vec<_> = (&mut events).take(4).collect().await;
    drop(events);
    let last = seen.last().unwrap().id;

    let resumed = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{conv}/stream")))
        .bearer_auth(&ada.access)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let rest = until_done(&mut sse_events(resumed)).await;
    let ids: Vec<u64> = seen.iter().chain(rest.iter()).map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "a gap or a duplicate"
    );
    let text: String = seen
        .iter()
        .chain(rest.iter())
        .filter(|e| e.event == "token")
        .map(|e| e.data["token"].as_str().unwrap())
        .collect();
    assert_eq!(text, LONG);
    assert_eq!(rest.last().unwrap().event, "done");

    // A client resuming after the last event gets an empty stream that ends.
    let done_seq = rest.last().unwrap().id;
    let after_end = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{conv}/stream")))
        .bearer_auth(&ada.access)
        .header("last-event-id", done_seq.to_string())
        .send()
        .await
        .unwrap();
    assert!(until_done(&mut sse_events(after_end)).await.is_empty());

    // A second tab without Last-Event-ID replays from the start.
    let again = app
        .get_as(&format!("/conversations/{conv}/stream"), &ada.access)
        .await;
    let all = until_done(&mut sse_events(again)).await;
    assert_eq!(all.first().unwrap().event, "start");
}

#[tokio::test]
async fn a_conversation_with_no_recent_generation_streams_204() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    assert_eq!(
        app.get_as(&format!("/conversations/{conv}/stream"), &ada.access)
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn cancel_ends_the_stream_with_done_cancelled_and_keeps_the_partial_answer() {
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let mut events = sse_events(app.chat(&ada.access, &conv, LONG).await);
    let first: Vec<_> = (&mut events).take(2).collect().await;
    assert_eq!(first[1].event, "token");
    let r = app
        .post_json(
            &format!("/conversations/{conv}/cancel"),
            Some(&ada.access),
            json!({}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["cancelled"], true);
    let rest = until_done(&mut events).await;
    let done = rest.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["cancelled"], true);
    let partial = done.data["full_response"].as_str().unwrap().to_string();
    assert!(
        partial.len() < LONG.len(),
        "cancel came too late to cut anything"
    );

    let stored = messages(&app, &ada.access, &conv).await;
    let answer = stored.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(answer["status"], "cancelled");
    assert_eq!(answer["content"], partial.as_str());
    // Nothing runs now: cancel answers false, and a new chat is accepted.
    let r = app
        .post_json(
            &format!("/conversations/{conv}/cancel"),
            Some(&ada.access),
            json!({}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["cancelled"], false);
    assert_eq!(app.chat(&ada.access, &conv, "again").await.status(), 200);
}

#[tokio::test]
async fn another_users_conversation_is_404_on_every_route() {
    let app = spawn_app_with(|_| {}, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let base = format!("/conversations/{conv}");
    let calls = [
        (Method::GET, base.clone(), None),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"title": "mine now"})),
        ),
        (Method::GET, format!("{base}/messages"), None),
        (
            Method::POST,
            format!("{base}/messages"),
            Some(json!({"role": "user", "content": "x"})),
        ),
        (
            Method::POST,
            format!("{base}/chat"),
            Some(json!({"content": "x"})),
        ),
        (Method::POST, format!("{base}/cancel"), Some(json!({}))),
        (Method::GET, format!("{base}/stream"), None),
        (
            Method::POST,
            format!("{base}/tags"),
            Some(json!({"tag_id": uuid::Uuid::now_v7()})),
        ),
        (
            Method::DELETE,
            format!("{base}/tags/{}", uuid::Uuid::now_v7()),
            None,
        ),
        (Method::DELETE, base.clone(), None),
    ];
    for (method, path, body) in calls {
        let r = app
            .send(method.clone(), &path, Some(&bob.access), body)
            .await;
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    assert_eq!(
        app.get_as(&base, &ada.access).await.status(),
        200,
        "ada's conversation survived"
    );
    let list: Value = app
        .get_as("/conversations", &bob.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn an_exhausted_quota_is_429_and_the_provider_is_not_called() {
    let fake = FakeLlm::start(Behaviour::Answer).await;
    let app = spawn_app_with(|c| fake.configure(c), axum::Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/admin/users/{}", ada.user_id),
            Some(&root.access),
            Some(json!({"monthly_token_allowance": 3})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let conv = app
        .conversation(&ada.access, json!({"provider": "fake"}))
        .await;
    let first = until_done(&mut sse_events(app.chat(&ada.access, &conv, "hi").await)).await;
    assert_eq!(first.last().unwrap().event, "done");
    assert_eq!(fake.calls(), 1);

    let r = app.chat(&ada.access, &conv, "hi again").await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(
        fake.calls(),
        1,
        "no provider call once the quota is used up"
    );
    let usage: Value = app
        .get_as("/users/me", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 5);
    assert_eq!(usage["usage"]["tokens_remaining"], -2);
}

#[tokio::test]
async fn a_provider_failing_mid_answer_sends_error_and_keeps_the_part_as_failed() {
    let fake = FakeLlm::start(Behaviour::CutOff).await;
    let app = spawn_app_with(|c| fake.configure(c), axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app
        .conversation(&ada.access, json!({"provider": "fake"}))
        .await;
    let events = until_done(&mut sse_events(app.chat(&ada.access, &conv, "hi").await)).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["start", "token", "error"]);
    assert_eq!(events[2].data["code"], "EXTERNAL_SERVICE_ERROR");
    let stored = messages(&app, &ada.access, &conv).await;
    let answer = stored.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["content"], "partial");
}

#[tokio::test]
async fn a_provider_failing_before_its_first_token_is_502_with_the_upstream_status() {
    let fake = FakeLlm::start(Behaviour::Unauthorized).await;
    let app = spawn_app_with(|c| fake.configure(c), axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let conv = app
        .conversation(&ada.access, json!({"provider": "fake"}))
        .await;
    let r = app.chat(&ada.access, &conv, "hi").await;
    assert_eq!(r.status(), 502);
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "EXTERNAL_SERVICE_ERROR");
    assert_eq!(body["error"]["details"]["upstream_status"], 401);
    // The lock was released: the next chat is not busy.
    assert_eq!(app.chat(&ada.access, &conv, "again").await.status(), 502);
}
