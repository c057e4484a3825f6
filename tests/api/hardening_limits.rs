//! Per-user storage limits (issue 10, item 11): over-long fields are 422
//! naming the field, one record past a configured count is 429, and a page
//! of a list is served without decoding the records outside it.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use chorus::state::AppState;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, envelope, spawn_app, spawn_app_with};

/// Sends `body` with `method` to `path` as `token`; asserts 422 naming `field`.
async fn assert_rejects(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
    field: &str,
) {
    let r = app
        .send(method.clone(), path, Some(token), Some(body))
        .await;
    assert_eq!(r.status(), 422, "{method} {path} ({field})");
    let e = envelope(r).await;
    assert_eq!(e["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(
        e["error"]["details"]["field"], field,
        "{method} {path}: {e}"
    );
}

/// Creates something at `path` and answers its id.
async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app.post_json(path, Some(token), body).await;
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    let v: Value = r.json().await.unwrap();
    v["id"]
        .as_str()
        .or(v["document_id"].as_str())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_over_long_prompt_metadata_or_name_is_422_naming_the_field() {
    let app = spawn_app().await;
    let token = app.sign_up("ada").await.access;
    let t = token.as_str();
    let prompt = "p".repeat(32 * 1024 + 1);
    let metadata = json!({ "notes": "m".repeat(16 * 1024) });
    let name = "n".repeat(256);
    let conv = app.conversation(t, json!({})).await;
    let persona = create(&app, t, "/personas", json!({"name": "ok"})).await;
    let cases = [
        (
            Method::POST,
            "/conversations".to_string(),
            json!({"system_prompt": prompt}),
            "system_prompt",
        ),
        (
            Method::POST,
            "/conversations".into(),
            json!({"metadata": metadata}),
            "metadata",
        ),
        (
            Method::POST,
            "/conversations".into(),
            json!({"title": name}),
            "title",
        ),
        (
            Method::POST,
            "/conversations".into(),
            json!({"model": name}),
            "model",
        ),
        (
            Method::PATCH,
            format!("/conversations/{conv}"),
            json!({"system_prompt": prompt}),
            "system_prompt",
        ),
        (
            Method::PATCH,
            format!("/conversations/{conv}"),
            json!({"metadata": metadata}),
            "metadata",
        ),
        (
            Method::POST,
            format!("/conversations/{conv}/messages"),
            json!({"role": "user", "content": "hi", "metadata": metadata}),
            "metadata",
        ),
        (
            Method::POST,
            "/personas".into(),
            json!({"name": name}),
            "name",
        ),
        (
            Method::POST,
            "/personas".into(),
            json!({"name": "ok", "system_prompt": prompt}),
            "system_prompt",
        ),
        (
            Method::POST,
            "/personas".into(),
            json!({"name": "ok", "description": "d".repeat(2001)}),
            "description",
        ),
        (
            Method::POST,
            "/personas".into(),
            json!({"name": "ok", "tags": vec!["t"; 51]}),
            "tags",
        ),
        (
            Method::PUT,
            format!("/personas/{persona}"),
            json!({"name": "ok", "system_prompt": prompt}),
            "system_prompt",
        ),
        (Method::POST, "/tags".into(), json!({"name": name}), "name"),
        (
            Method::POST,
            "/api-keys".into(),
            json!({"name": name}),
            "name",
        ),
        (
            Method::POST,
            "/documents".into(),
            json!({"title": name, "text": "x"}),
            "title",
        ),
    ];
    for (method, path, body, field) in cases {
        assert_rejects(&app, t, method, &path, body, field).await;
    }
    // Exactly at the caps still fits.
    let fits = json!({"title": "n".repeat(255), "system_prompt": "p".repeat(32 * 1024)});
    assert_eq!(
        app.post_json("/conversations", Some(t), fits)
            .await
            .status(),
        201
    );
    // Nothing rejected was stored.
    let personas = app.get_json("/personas", t).await;
    assert_eq!(personas["total"], 1);
    let stored = app.get_json(&format!("/conversations/{conv}"), t).await;
    assert_eq!(stored["system_prompt"], Value::Null);
}

/// Each counted resource: where it is made (and `{path}/{id}` deletes
/// one), and a body for the n-th one.
type Resource = (&'static str, fn(usize) -> Value);

fn resources() -> Vec<Resource> {
    vec![
        ("/conversations", |_| json!({})),
        ("/personas", |i| json!({"name": format!("p{i}")})),
        ("/tags", |i| json!({"name": format!("t{i}")})),
        ("/api-keys", |i| json!({"name": format!("k{i}")})),
        (
            "/documents",
            |i| json!({"title": format!("d{i}"), "text": "words"}),
        ),
    ]
}

fn small_counts(c: &mut chorus::config::Config) {
    let l = &mut c.limits;
    l.max_conversations_per_user = 3;
    l.max_personas_per_user = 3;
    l.max_tags_per_user = 3;
    l.max_api_keys_per_user = 3;
    l.max_documents_per_user = 3;
}

#[tokio::test]
async fn one_record_past_the_configured_count_is_429_until_one_is_deleted() {
    let app = spawn_app_with(small_counts, Router::new()).await;
    let ada = app.sign_up("ada").await.access;
    let bob = app.sign_up("bob").await.access;
    for (path, body) in resources() {
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(create(&app, &ada, path, body(i)).await);
        }
        let r = app.post_json(path, Some(&ada), body(3)).await;
        assert_eq!(r.status(), 429, "POST {path} past the count");
        let e = envelope(r).await;
        assert_eq!(e["error"]["code"], "QUOTA_EXCEEDED", "{e}");
        assert_eq!(e["error"]["details"]["limit"], 3);
        // Another user's count is their own.
        create(&app, &bob, path, body(0)).await;
        // After a delete, one more fits, and only one.
        let gone = app
            .send(
                Method::DELETE,
                &format!("{path}/{}", ids[0]),
                Some(&ada),
                None,
            )
            .await;
        assert_eq!(gone.status(), 204, "DELETE {path}");
        create(&app, &ada, path, body(4)).await;
        let r = app.post_json(path, Some(&ada), body(5)).await;
        assert_eq!(r.status(), 429, "POST {path} past the count again");
    }
}

#[tokio::test]
async fn concurrent_creates_cannot_pass_the_configured_count() {
    let app = spawn_app_with(small_counts, Router::new()).await;
    let token = app.sign_up("ada").await.access;
    for (path, body) in resources() {
        let attempts = (0..12).map(|i| app.post_json(path, Some(&token), body(i)));
        let statuses: Vec<u16> = futures::future::join_all(attempts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let made = statuses.iter().filter(|s| **s / 100 == 2).count();
        assert_eq!(made, 3, "POST {path} x12: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s / 100 == 2 || *s == 429),
            "{statuses:?}"
        );
    }
    for list in ["/conversations", "/personas", "/tags", "/documents"] {
        assert_eq!(app.get_json(list, &token).await["total"], 3, "{list}");
    }
    let keys = app.get_json("/api-keys", &token).await;
    assert_eq!(keys.as_array().unwrap().len(), 3);
}

/// A test-only route that overwrites one stored record with bytes no
/// record type decodes, as a torn write or a bug would leave it.
fn corrupter() -> Router<AppState> {
    async fn corrupt(
        State(state): State<AppState>,
        Path((tree, a, b)): Path<(String, Uuid, String)>,
    ) -> &'static str {
        let store = state.core.store();
        match b.parse::<Uuid>() {
            Ok(b) => store
                .table::<(Uuid, Uuid), ()>(&tree)
                .unwrap()
                .insert(&(a, b), &()),
            Err(_) => store.table::<Uuid, ()>(&tree).unwrap().insert(&a, &()),
        }
        .unwrap();
        "corrupted"
    }
    Router::new().route("/test/corrupt/{tree}/{a}/{b}", post(corrupt))
}

#[tokio::test]
async fn a_corrupt_record_outside_the_page_does_not_break_the_page() {
    let app = spawn_app_with(|_| {}, corrupter()).await;
    let token = app.sign_up("ada").await.access;
    let t = token.as_str();
    let client = &app.client;
    let corrupt = |tree: &'static str, a: String, b: String| {
        let url = app.url(&format!("/test/corrupt/{tree}/{a}/{b}"));
        async move { assert_eq!(client.post(url).send().await.unwrap().status(), 200) }
    };
    let mut personas = Vec::new();
    let mut tags = Vec::new();
    let mut convs = Vec::new();
    for i in 0..8 {
        personas.push(create(&app, t, "/personas", json!({"name": format!("p{i}")})).await);
        tags.push(create(&app, t, "/tags", json!({"name": format!("t{i}")})).await);
        convs.push(app.conversation(t, json!({"title": format!("c{i}")})).await);
    }
    let conv = &convs[7];
    let mut messages = Vec::new();
    for i in 0..8 {
        let m = json!({"role": "user", "content": format!("m{i}")});
        messages.push(create(&app, t, &format!("/conversations/{conv}/messages"), m).await);
    }
    // Every list is newest first: corrupt the record that comes last in
    // each; and a message the page skips (passed by key, never decoded).
    corrupt("personas", personas[0].clone(), "-".into()).await;
    corrupt("conversations", convs[0].clone(), "-".into()).await;
    corrupt("tags", tags[0].clone(), "-".into()).await;
    corrupt("messages", conv.clone(), messages[0].clone()).await;
    let pages = [
        "/personas?limit=5".to_string(),
        "/conversations?limit=5".into(),
        "/tags?limit=5".into(),
        format!("/conversations/{conv}/messages?skip=2&limit=5"),
    ];
    for page in pages {
        let body = app.get_json(&page, t).await;
        assert_eq!(body["items"].as_array().unwrap().len(), 5, "{page}: {body}");
        assert_eq!(body["total"], 8, "{page}");
    }
    // The corruption is real: a page that holds the record fails.
    assert_eq!(
        app.get_as("/personas?skip=5&limit=5", t).await.status(),
        500
    );
}
