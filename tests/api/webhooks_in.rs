//! Incoming webhooks (API.md 8), from outside: payloads signed the way the
//! Stripe libraries sign them (`t=<unix>,v1=<hex hmac-sha256 of "t.payload">`)
//! are stored once, processed by a `webhook.received` job and listed for
//! admins; every way a signature can be wrong is 400 and stores nothing.

use axum::Router;
use chorus::config::{Config, WebhookSource};
use hmac::{Hmac, Mac};
use reqwest::Response;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Session, TestApp, envelope, eventually, spawn_app_with};

pub const SECRET: &str = "whsec_test_secret";

/// The header a Stripe library sends for `payload` signed at `t` with `secret`.
pub fn sign(secret: &str, t: i64, payload: &str) -> String {
    format!("t={t},v1={}", v1(secret, t, payload))
}

fn v1(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `stripe` (every type) and `github` (only `push` is processed).
fn sources(c: &mut Config) {
    let source = |events: &[&str]| WebhookSource {
        secret: Some(SECRET.into()),
        events: events.iter().map(|e| e.to_string()).collect(),
    };
    c.webhooks.sources.insert("stripe".into(), source(&[]));
    c.webhooks
        .sources
        .insert("github".into(), source(&["push"]));
}

async fn app() -> (TestApp, Session) {
    let app = spawn_app_with(sources, Router::new()).await;
    // The first account is the superadmin.
    let root = app.sign_up("root").await;
    (app, root)
}

fn event(id: &str, event_type: &str) -> String {
    json!({"id": id, "object": "event", "type": event_type, "data": {"object": {"amount": 2000}}})
        .to_string()
}

/// POSTs `payload` to `/webhooks/{source}` with header `name: value`, if any.
async fn deliver(
    app: &TestApp,
    source: &str,
    header: Option<(&str, String)>,
    payload: &str,
) -> Response {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source}")))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

async fn deliver_signed(app: &TestApp, source: &str, payload: &str) -> Response {
    let header = ("x-webhook-signature", sign(SECRET, now(), payload));
    deliver(app, source, Some(header), payload).await
}

async fn events(app: &TestApp, root: &Session, query: &str) -> Value {
    app.get_json(&format!("/admin/webhooks/events{query}"), &root.access)
        .await
}

/// Asserts a 400 BAD_REQUEST whose message contains `says`.
async fn assert_400(r: Response, says: &str) {
    assert_eq!(r.status(), 400);
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

#[tokio::test]
async fn a_signed_event_is_stored_processed_by_its_job_and_listed_for_admins() {
    let (app, root) = app().await;
    let payload = event("evt_1", "checkout.session.completed");
    let r = deliver_signed(&app, "stripe", &payload).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().contains_key("x-ratelimit-limit"),
        "rate-limited per IP"
    );
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let listed = eventually("the webhook.received job to process the event", || async {
        let page = events(&app, &root, "").await;
        (page["items"][0]["status"] == "processed").then_some(page)
    })
    .await;
    assert_eq!(listed["total"], 1);
    let e = &listed["items"][0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["source"], "stripe");
    assert_eq!(e["event_id"], "evt_1");
    assert_eq!(e["event_type"], "checkout.session.completed");
    assert_eq!(e["error"], Value::Null);
    assert!(e["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(e["processed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        e["payload"],
        serde_json::from_str::<Value>(&payload).unwrap()
    );
    // The job is the server's own: no user sees it.
    let jobs = app.get_json("/jobs", &root.access).await;
    assert_eq!(jobs["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn admins_page_newest_first_and_filter_by_source_and_users_get_403() {
    let (app, root) = app().await;
    for (source, id) in [("stripe", "evt_a"), ("github", "gh_1"), ("stripe", "evt_b")] {
        let r = deliver_signed(&app, source, &event(id, "push")).await;
        assert_eq!(r.status(), 200);
    }
    let all = events(&app, &root, "?limit=2").await;
    assert_eq!(
        (all["total"].as_u64(), all["limit"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(all["items"][0]["event_id"], "evt_b", "newest first");
    assert_eq!(all["items"][1]["event_id"], "gh_1");
    let stripe = events(&app, &root, "?source=stripe&skip=1").await;
    assert_eq!(stripe["total"], 2);
    assert_eq!(stripe["items"][0]["event_id"], "evt_a");
    assert_eq!(events(&app, &root, "?source=nobody").await["total"], 0);
    let bad = app
        .get_as("/admin/webhooks/events?limit=0", &root.access)
        .await;
    assert_eq!(bad.status(), 422);

    let ada = app.sign_up("ada").await;
    let r = app.get_as("/admin/webhooks/events", &ada.access).await;
    assert_eq!(r.status(), 403);
    assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    let anonymous = app.get("/api/v1/admin/webhooks/events").await;
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_event_id_is_409_and_stored_once() {
    let (app, root) = app().await;
    let payload = event("evt_dup", "invoice.paid");
    assert_eq!(deliver_signed(&app, "stripe", &payload).await.status(), 200);
    // A fresh signature of the same event: the signature is fine, the id is not.
    let again = deliver_signed(&app, "stripe", &payload).await;
    assert_eq!(again.status(), 409);
    assert_eq!(envelope(again).await["error"]["code"], "CONFLICT");
    // The same id from another source is another event.
    assert_eq!(deliver_signed(&app, "github", &payload).await.status(), 200);
    assert_eq!(events(&app, &root, "?source=stripe").await["total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_source_is_404() {
    let (app, _) = app().await;
    let r = deliver_signed(&app, "paypal", &event("evt_1", "x")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(envelope(r).await["error"]["code"], "NOT_FOUND");
    app.stop().await;
}

#[tokio::test]
async fn the_stripe_signature_header_and_a_rotated_secret_pair_are_accepted() {
    let (app, root) = app().await;
    let payload = event("evt_stripe_header", "invoice.paid");
    let header = ("stripe-signature", sign(SECRET, now(), &payload));
    assert_eq!(
        deliver(&app, "stripe", Some(header), &payload)
            .await
            .status(),
        200
    );

    // During a secret roll Stripe signs with both: one v1 per secret.
    let payload = event("evt_rolled", "invoice.paid");
    let t = now();
    let both = format!(
        "t={t},v1={},v1={}",
        v1("whsec_old", t, &payload),
        v1(SECRET, t, &payload)
    );
    let header = ("stripe-signature", both);
    assert_eq!(
        deliver(&app, "stripe", Some(header), &payload)
            .await
            .status(),
        200
    );
    assert_eq!(events(&app, &root, "").await["total"], 2);
    app.stop().await;
}

#[tokio::test]
async fn missing_stale_future_and_malformed_signatures_are_400_and_say_which() {
    let (app, root) = app().await;
    let payload = event("evt_1", "invoice.paid");
    assert_400(deliver(&app, "stripe", None, &payload).await, "missing").await;
    let stale = sign(SECRET, now() - 6 * 60, &payload);
    let r = deliver(
        &app,
        "stripe",
        Some(("x-webhook-signature", stale)),
        &payload,
    )
    .await;
    assert_400(r, "old").await;
    let future = sign(SECRET, now() + 6 * 60, &payload);
    let r = deliver(&app, "stripe", Some(("stripe-signature", future)), &payload).await;
    assert_400(r, "future").await;
    let r = deliver(
        &app,
        "stripe",
        Some(("x-webhook-signature", "v1=abc".into())),
        &payload,
    )
    .await;
    assert_400(r, "malformed").await;
    assert_eq!(events(&app, &root, "").await["total"], 0);
    // The same event, signed now, is still taken: nothing was stored before.
    assert_eq!(deliver_signed(&app, "stripe", &payload).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_signature_or_a_body_altered_after_signing_is_refused_and_nothing_is_stored() {
    let (app, root) = app().await;
    let payload = event("evt_forged", "invoice.paid");
    // The attacker knows the scheme but not the secret.
    let forged = sign("whsec_guessed", now(), &payload);
    let r = deliver(&app, "stripe", Some(("stripe-signature", forged)), &payload).await;
    assert_eq!(r.status(), 400);
    let body = envelope(r).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not match"), "{message}");
    let expected = v1(SECRET, now(), &payload);
    assert!(
        !body.to_string().contains(&expected[..16]),
        "no expected signature leaks"
    );

    // A genuine signature, the amount changed in transit.
    let signed = sign(SECRET, now(), &payload);
    let altered = payload.replace("2000", "1");
    let r = deliver(
        &app,
        "stripe",
        Some(("x-webhook-signature", signed)),
        &altered,
    )
    .await;
    assert_400(r, "does not match").await;
    // One byte of whitespace is an alteration too: the raw bytes are signed.
    let signed = sign(SECRET, now(), &payload);
    let r = deliver(
        &app,
        "stripe",
        Some(("x-webhook-signature", signed)),
        &format!("{payload} "),
    )
    .await;
    assert_400(r, "does not match").await;

    assert_eq!(events(&app, &root, "").await["total"], 0, "nothing stored");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_one_without_a_string_id_is_422() {
    let (app, root) = app().await;
    assert_400(deliver_signed(&app, "stripe", "not json").await, "not JSON").await;
    for body in [json!({"type": "x"}), json!({"id": 7}), json!(["evt_1"])] {
        let r = deliver_signed(&app, "stripe", &body.to_string()).await;
        assert_eq!(r.status(), 422, "{body}");
        assert_eq!(envelope(r).await["error"]["details"]["field"], "id");
    }
    assert_eq!(events(&app, &root, "").await["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_type_outside_the_allow_list_is_answered_200_and_stored_as_ignored() {
    let (app, root) = app().await;
    let r = deliver_signed(&app, "github", &event("gh_star", "star")).await;
    assert_eq!(r.status(), 200, "a 2xx, or the sender retries it forever");
    let r = deliver_signed(&app, "github", &event("gh_push", "push")).await;
    assert_eq!(r.status(), 200);
    let page = eventually("the push to be processed", || async {
        let page = events(&app, &root, "?source=github").await;
        (page["items"][0]["status"] == "processed").then_some(page)
    })
    .await;
    let star = &page["items"][1];
    assert_eq!(star["event_id"], "gh_star");
    assert_eq!(star["status"], "ignored");
    assert_eq!(star["processed_at"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_json_limit_is_413() {
    let app = spawn_app_with(
        |c| {
            sources(c);
            c.limits.json_body_bytes = 1024;
        },
        Router::new(),
    )
    .await;
    let big = json!({"id": "evt_big", "pad": "x".repeat(2000)}).to_string();
    let r = deliver_signed(&app, "stripe", &big).await;
    assert_eq!(r.status(), 413);
    assert_eq!(envelope(r).await["error"]["code"], "PAYLOAD_TOO_LARGE");
    app.stop().await;
}
