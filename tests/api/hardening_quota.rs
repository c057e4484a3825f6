//! Issue 10, items 5, 7 and 20 (persona): metric labels and models come
//! from fixed sets, quota is reserved before a provider call, a stateless
//! generation whose client has gone stops upstream, and a persona that
//! cannot be read fails the chat instead of silently dropping its prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as AxPath, State as AxState};
use axum::response::IntoResponse;
use axum::routing::post;
use chorus::state::AppState;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_llm::FakeLlm;
use crate::helpers::{TestApp, envelope, eventually, spawn_app, spawn_app_with, sse_events};

async fn assert_model_refused(r: reqwest::Response, route: &str) {
    assert_eq!(r.status(), 422, "{route} took an unknown model");
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{route}");
    assert_eq!(body["error"]["details"]["field"], "model", "{route}");
}

#[tokio::test]
async fn a_model_the_provider_does_not_list_is_refused_on_every_chat_route() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    let bad = "no-such-model";
    let r = app
        .post_json(
            &format!("/conversations/{conv}/chat"),
            Some(&ada.access),
            json!({"content": "hi", "model": bad}),
        )
        .await;
    assert_model_refused(r, "conversation chat").await;
    let messages = app
        .get_json(&format!("/conversations/{conv}/messages"), &ada.access)
        .await;
    assert_eq!(messages["total"], 0, "nothing stored for a refused chat");

    let one = json!([{"role": "user", "content": "hi"}]);
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": one, "model": bad}),
        )
        .await;
    assert_model_refused(r, "/ai/completions").await;
    let r = app
        .post_json(
            "/ai/process",
            Some(&ada.access),
            json!({"analysis_type": "chat", "user_input": "hi", "model": bad}),
        )
        .await;
    assert_model_refused(r, "/ai/process").await;
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": one, "model": bad}),
        )
        .await;
    assert_model_refused(r, "POST /chat").await;
    let r = app
        .post_json("/conversations", Some(&ada.access), json!({"model": bad}))
        .await;
    assert_model_refused(r, "a conversation's stored model").await;

    // The OpenAI surface answers in OpenAI's shape, naming the parameter.
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&ada.access)
        .json(&json!({"model": bad, "messages": one}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "model", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    // WebSocket chat goes through the same check.
    let mut ws = app.ws(&ada.access).await;
    ws.send(
        json!({"type": "chat", "conversation_id": conv, "content": "hi", "model": bad, "ref": "m"}),
    )
    .await;
    let error = ws.next_of("error").await;
    assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");

    // A listed model still works everywhere.
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": one, "model": "echo-1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_provider_listing_no_models_takes_short_names_and_labels_them_other() {
    let app = spawn_app_with(
        |c| {
            let mut open = c.providers["echo"].clone();
            open.models = Vec::new();
            open.default_model = None;
            c.providers.insert("open".into(), open);
        },
        Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    let one = json!([{"role": "user", "content": "hi there"}]);
    let name = "ada-private-model-7f3a";
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": one, "provider": "open", "model": name}),
        )
        .await;
    assert_eq!(r.status(), 200, "any short name is accepted");
    let long = "m".repeat(129);
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": one, "provider": "open", "model": long}),
        )
        .await;
    assert_model_refused(r, "a 129-character model").await;

    let breakdown = app.get_json("/users/me/usage/breakdown", &ada.access).await;
    assert!(
        breakdown["by_model"]["other"].as_u64() > Some(0),
        "{breakdown}"
    );
    assert!(breakdown["by_model"].get(name).is_none(), "{breakdown}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains(name),
        "a user-chosen model name reached the metrics"
    );
    assert!(
        metrics.contains("provider=\"open\""),
        "the call was counted"
    );
}

#[tokio::test]
async fn an_invented_http_method_does_not_become_a_metrics_label() {
    let app = spawn_app().await;
    for method in ["FOOBAR", "XYZZY"] {
        let r = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/health"),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("FOOBAR"), "an invented method is a label");
    assert!(!metrics.contains("XYZZY"), "an invented method is a label");
    assert!(metrics.contains("method=\"OTHER\""), "counted as OTHER");
}

/// Gives `user_id` an allowance of `tokens` as the admin `admin`.
pub(crate) async fn allow(app: &TestApp, admin: &str, user_id: &str, tokens: u64) {
    let r = app
        .send(
            Method::PATCH,
            &format!("/admin/users/{user_id}"),
            Some(admin),
            Some(json!({"monthly_token_allowance": tokens})),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sixty_parallel_calls_cannot_spend_more_than_the_tokens_left() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    allow(&app, &root.access, &ada.user_id, 100).await;
    // 5 prompt + 5 answer tokens per call.
    let body = json!({"messages": [{"role": "user", "content": "one two three four five"}]});
    let calls = (0..60).map(|_| {
        let (app, token, body) = (&app, ada.access.clone(), body.clone());
        async move {
            app.post_json("/ai/completions", Some(&token), body)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "some calls were refused");
    let usage = app.get_json("/users/me/usage", &ada.access).await;
    let spent = usage["total_tokens"].as_u64().unwrap();
    assert!(spent <= 100 + 10, "spent {spent} of an allowance of 100");
}

#[tokio::test]
async fn a_reservation_clamps_max_tokens_to_what_is_left() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    allow(&app, &root.access, &ada.user_id, 6).await;
    let words = "a b c d e f g h i j";
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": words}], "max_tokens": 50}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "length", "{answer}");
    let usage = app.get_json("/users/me/usage", &ada.access).await;
    assert!(usage["total_tokens"].as_u64().unwrap() <= 10 + 1, "{usage}");
}

/// An OpenAI-compatible upstream that answers with an endless trickle and
/// notes when its connection goes away (its body is dropped); the count is
/// of the chunks it has sent.
async fn endless_upstream() -> (FakeLlm, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let closed = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let (flag, counter, chunks_sent) = (closed.clone(), calls.clone(), sent.clone());
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let guard = DropFlag(flag.clone());
            let chunks_sent = chunks_sent.clone();
            async move {
                let chunks = futures::stream::unfold(guard, move |guard| {
                    let chunks_sent = chunks_sent.clone();
                    async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    chunks_sent.fetch_add(1, Ordering::SeqCst);
                    let line =
                        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"la \"}}]}\n\n";
                    Some((Ok::<_, std::io::Error>(line), guard))
                    }
                });
                (
                    [("content-type", "text/event-stream")],
                    Body::from_stream(chunks),
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fake = FakeLlm {
        base_url,
        calls,
        last_body: Default::default(),
        last_traceparent: Default::default(),
    };
    (fake, closed, sent)
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A `/v1` answer sent whole runs its generation in the request's own task.
/// A client that gives up on it must still close the upstream call and
/// have what was generated counted, as when the generation had its own task.
#[tokio::test]
async fn a_client_leaving_a_whole_v1_answer_stops_upstream_and_is_counted() {
    let (fake, closed, sent) = endless_upstream().await;
    let app = spawn_app_with(|c| fake.configure(c), Router::new()).await;
    let ada = app.sign_up("ada").await;
    let body = json!({"model": "fake/fake-1", "messages": [{"role": "user", "content": "sing"}]});
    // Open the call on a connection of its own and let the provider stream
    // a few tokens before the client goes away, so it leaves mid-answer.
    let client = reqwest::Client::new();
    let request = client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&ada.access)
        .json(&body)
        .send();
    let call = tokio::spawn(request);
    eventually("the provider to stream", || async {
        (sent.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await;
    assert!(!closed.load(Ordering::SeqCst), "upstream still streaming");
    call.abort();
    drop(client);
    eventually("the upstream connection to close", || async {
        closed.load(Ordering::SeqCst).then_some(())
    })
    .await;
    eventually("the cancelled call to be counted", || async {
        // Polled fast enough to meet the rate limit now and then: a 429 is
        // one more try.
        let r = app.get_as("/users/me/usage", &ada.access).await;
        let usage: Value = r.json().await.ok()?;
        (usage["total_tokens"].as_u64()? > 0).then_some(())
    })
    .await;
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_client_leaving_a_stateless_stream_closes_the_upstream_connection() {
    let messages = json!([{"role": "user", "content": "sing"}]);
    let routes = [
        (
            "/v1/chat/completions",
            json!({"model": "fake/fake-1", "stream": true, "messages": messages}),
        ),
        (
            "/api/v1/ai/completions",
            json!({"provider": "fake", "stream": true, "messages": messages}),
        ),
    ];
    for (route, body) in routes {
        let (fake, closed, _) = endless_upstream().await;
        let app = spawn_app_with(|c| fake.configure(c), Router::new()).await;
        let ada = app.sign_up("ada").await;
        let response = app
            .client
            .post(app.url(route))
            .bearer_auth(&ada.access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{route}");
        let mut events = sse_events(response);
        events.next().await.expect("a first event");
        events.next().await.expect("a second event");
        assert!(!closed.load(Ordering::SeqCst), "upstream still streaming");
        drop(events);
        eventually("the upstream connection to close", || async {
            closed.load(Ordering::SeqCst).then_some(())
        })
        .await;
        assert_eq!(fake.calls(), 1, "{route}");
    }
}

/// Test-only route: overwrites a persona's record with bytes that do not decode.
async fn break_persona(AxState(state): AxState<AppState>, AxPath(id): AxPath<uuid::Uuid>) {
    let table = state
        .core
        .store()
        .table::<uuid::Uuid, u8>("personas")
        .unwrap();
    table.insert(&id, &7).unwrap();
}

#[tokio::test]
async fn a_persona_that_cannot_be_read_fails_the_chat_instead_of_dropping_its_prompt() {
    let extra = Router::new().route("/test/break-persona/{id}", post(break_persona));
    let app = spawn_app_with(|_| {}, extra).await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            "/personas",
            Some(&ada.access),
            json!({"name": "pirate", "system_prompt": "Answer as a pirate."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let persona = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let conv = app
        .conversation(&ada.access, json!({"persona_id": persona}))
        .await;
    let r = app
        .client
        .post(app.url(&format!("/test/break-persona/{persona}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    // A listener on the conversation's stream sees the generation fail.
    let mut ws = app.ws(&ada.access).await;
    ws.subscribe(&format!("conversation:{conv}")).await;
    let r = app.chat(&ada.access, &conv, "hello").await;
    assert_eq!(
        r.status(),
        500,
        "the chat must fail, not run without its prompt"
    );
    assert_eq!(envelope(r).await["error"]["code"], "INTERNAL_ERROR");
    let error = ws.next_of("chat.error").await;
    assert_eq!(error["code"], "INTERNAL_ERROR", "{error}");
    let messages = app
        .get_json(&format!("/conversations/{conv}/messages"), &ada.access)
        .await;
    let roles: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        !roles.contains(&"assistant"),
        "no answer without the prompt"
    );
}
