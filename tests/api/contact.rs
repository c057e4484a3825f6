//! The contact form (API.md 8): public submit in the `contact` rate class
//! (per hour per IP), field checks, the admins' list, and the
//! `contact.submitted` webhook.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{envelope, eventually, spawn_app, spawn_app_with};

fn form(n: u32) -> Value {
    json!({"name": format!("Grace {n}"), "email": "Grace@Example.com", "message": format!("hello #{n}")})
}

fn assert_reference(body: &Value) {
    assert_eq!(body["success"], true, "{body}");
    let reference = body["reference_id"].as_str().unwrap();
    let tail = reference.strip_prefix("CNT-").expect(reference);
    assert_eq!(tail.len(), 8, "{reference}");
    assert!(
        tail.bytes()
            .all(|b| b"ABCDEFGHJKMNPQRSTUVWXYZ23456789".contains(&b)),
        "{reference}"
    );
}

#[tokio::test]
async fn a_submission_needs_no_account_and_the_sixth_in_an_hour_is_429() {
    let app = spawn_app().await;
    for n in 1..=5 {
        let r = app.post_json("/public/contact", None, form(n)).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-ratelimit-limit"], "5");
        assert_reference(&r.json().await.unwrap());
    }
    let r = app.post_json("/public/contact", None, form(6)).await;
    assert_eq!(r.status(), 429);
    // One submission comes back every 12 minutes: far more than a minute away.
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 60, "Retry-After {retry}");
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(body["error"]["details"]["class"], "contact");
    // Other routes keep their own classes.
    assert_eq!(app.get("/api/v1/services").await.status(), 200);
}

#[tokio::test]
async fn bad_fields_are_422_naming_the_field() {
    let app = spawn_app_with(|c| c.rate_limits.contact = 100, Router::new()).await;
    let base = form(1);
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("email", json!("not-an-email")), "email"),
        (with("email", json!("a b@example.com")), "email"),
        (with("name", json!("")), "name"),
        (with("message", json!("  ")), "message"),
        (with("message", json!("m".repeat(10_001))), "message"),
        (with("subject", json!("s".repeat(256))), "subject"),
        (with("phone", json!("1".repeat(65))), "phone"),
        (with("extra_fields", json!([1, 2])), "extra_fields"),
        (
            with("extra_fields", json!({"plan": "p".repeat(501)})),
            "extra_fields.plan",
        ),
        (
            with("extra_fields", json!({"nested": {"a": 1}})),
            "extra_fields.nested",
        ),
        (json!({"name": "n", "email": "a@example.com"}), "message"),
    ];
    for (body, field) in cases {
        let r = app.post_json("/public/contact", None, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        let e = envelope(r).await;
        assert_eq!(e["error"]["details"]["field"], field, "{body}");
    }
    let mut full = form(2);
    full["subject"] = json!("Pricing");
    full["phone"] = json!("+44 20 7946 0000");
    full["company"] = json!("Navy");
    full["source"] = json!("pricing-page");
    full["extra_fields"] = json!({"plan": "team", "seats": 12, "newsletter": true});
    let r = app.post_json("/public/contact", None, full).await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn admins_list_submissions_newest_first_and_others_are_refused() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    for n in 1..=3 {
        let mut body = form(n);
        if n == 3 {
            body["extra_fields"] = json!({"plan": "team"});
        }
        assert_eq!(
            app.post_json("/public/contact", None, body).await.status(),
            201
        );
    }
    let r = app.get_as("/admin/contacts", &ada.access).await;
    assert_eq!(r.status(), 403);
    assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    let r = app.get("/api/v1/admin/contacts").await;
    assert_eq!(r.status(), 401);

    let page = app.get_json("/admin/contacts", &root.access).await;
    assert_eq!(page["total"], 3);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Grace 3", "Grace 2", "Grace 1"]);
    let newest = &page["items"][0];
    assert_eq!(newest["email"], "grace@example.com", "stored lower-cased");
    assert_eq!(newest["message"], "hello #3");
    assert_eq!(newest["extra_fields"], json!({"plan": "team"}));
    assert!(newest["reference_id"].as_str().unwrap().starts_with("CNT-"));
    assert_eq!(newest["ip_address"], "127.0.0.1");
    let second = app
        .get_json("/admin/contacts?skip=1&limit=1", &root.access)
        .await;
    assert_eq!(second["items"][0]["name"], "Grace 2");
    assert_eq!(second["total"], 3);
}

#[tokio::test]
async fn a_submission_goes_out_as_a_signed_contact_submitted_webhook() {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = received.clone();
    let receiver = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let sig = headers["x-webhook-signature"].to_str().unwrap().to_string();
                kept.lock().unwrap().push((sig, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let app = spawn_app_with(
        move |c| {
            c.webhooks.url = url;
            c.webhooks.secret = Some(serde_json::from_str("\"whsec_contact\"").unwrap());
        },
        Router::new(),
    )
    .await;

    let mut body = form(1);
    body["subject"] = json!("Hi");
    let r = app.post_json("/public/contact", None, body).await;
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.unwrap();

    let (sig, body) = eventually("the contact webhook to arrive", || async {
        received.lock().unwrap().first().cloned()
    })
    .await;
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["event"], "contact.submitted");
    let contact = &event["data"]["contact"];
    assert_eq!(contact["reference_id"], receipt["reference_id"]);
    assert_eq!(contact["email"], "grace@example.com");
    assert_eq!(contact["subject"], "Hi");
    assert!(contact.get("ip_address").is_none() && contact.get("ip").is_none());

    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_contact").unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1.strip_prefix("v1=").unwrap(), expected);
    assert_eq!(received.lock().unwrap().len(), 1, "sent once");
}
