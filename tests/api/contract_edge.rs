//! Where the edge disagreed with API.md (issue 11, section 6): the quota
//! check before a ticket queues, the JSON body cap on documents, `/ready`
//! while shutting down, and the rate-limit headers of unknown API routes.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chorus::state::AppState;
use serde_json::json;

use crate::hardening_quota::allow;
use crate::helpers::{envelope, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_ticket_chat_with_the_quota_spent_is_429_and_nothing_is_queued() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    allow(&app, &root.access, &ada.user_id, 0).await;
    let messages = json!([{"role": "user", "content": "hi"}]);

    // As every AI route answers...
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({ "messages": messages }),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "QUOTA_EXCEEDED");
    // ...so does the ticket chat, before it queues anything.
    let r = app
        .post_json("/chat", Some(&ada.access), json!({ "messages": messages }))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "QUOTA_EXCEEDED");
    let jobs = app.get_json("/jobs", &ada.access).await;
    assert_eq!(jobs["total"], 0, "a ticket was queued: {jobs}");

    // With tokens left, the ticket is taken as before.
    let r = app
        .post_json("/chat", Some(&root.access), json!({ "messages": messages }))
        .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn a_json_document_is_capped_at_the_json_limit_and_an_upload_at_the_upload_limit() {
    let app = spawn_app_with(|c| c.limits.json_body_bytes = 4096, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let text = "a line of a document that is longer than the JSON limit\n".repeat(100);
    assert!(text.len() > 4096);

    let r = app
        .post_json(
            "/documents",
            Some(&ada.access),
            json!({"title": "big", "text": text}),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(envelope(r).await["error"]["code"], "PAYLOAD_TOO_LARGE");

    // A small JSON document, and the same text as a file, are taken.
    let r = app
        .post_json(
            "/documents",
            Some(&ada.access),
            json!({"title": "small", "text": "short enough"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let r = app.upload(&ada.access, "big.txt", text.as_bytes()).await;
    assert_eq!(r.status(), 202);
}

/// Begins shutdown as SIGTERM would, without stopping the listener, so a
/// test can still ask `/ready` what it says meanwhile.
async fn begin_shutdown(State(state): State<AppState>) {
    state.shutdown.cancel();
}

#[tokio::test]
async fn ready_while_shutting_down_is_503_with_its_checks() {
    let hook = Router::new().route("/test/begin-shutdown", post(begin_shutdown));
    let app = spawn_app_with(|_| {}, hook).await;
    assert_eq!(app.get("/ready").await.status(), 200);
    let r = app
        .client
        .post(app.url("/test/begin-shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = app.get("/ready").await;
    assert_eq!(r.status(), 503);
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    let checks = &body["error"]["details"]["checks"];
    assert!(checks.is_object(), "no details.checks: {body}");
    assert_eq!(checks["shutdown"], "shutting down", "{body}");
}

#[tokio::test]
async fn unknown_api_routes_and_methods_carry_the_rate_limit_headers_of_the_default_class() {
    let app = spawn_app_with(|c| c.rate_limits.default = 50, Router::new()).await;
    for (i, path) in ["/api/v1/no-such-route", "/api/v2/nope/nope", "/v1/nothing"]
        .into_iter()
        .enumerate()
    {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        let headers = r.headers();
        assert_eq!(headers["x-ratelimit-limit"], "50", "{path}");
        let remaining: u32 = headers["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(remaining, 50 - 1 - i as u32, "{path}: one bucket per IP");
        assert!(headers.contains_key("x-ratelimit-reset"), "{path}");
    }
    let body = envelope(app.get("/api/v1/no-such-route").await).await;
    assert_eq!(body["error"]["code"], "NOT_FOUND");

    // A known route asked with a method it does not take, likewise.
    let r = app
        .client
        .delete(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["x-ratelimit-limit"], "50");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "45");
}
