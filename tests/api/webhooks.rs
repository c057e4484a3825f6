//! Outgoing webhooks (API.md 8): a local receiver gets a correctly signed
//! event after one failed attempt.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{eventually, spawn_app_with};

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// Answers 500 to the first delivery and 200 after; keeps (signature, body)
/// and counts the calls.
async fn start_receiver() -> (String, Received, Arc<Mutex<u32>>) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let (kept, calls) = (kept.clone(), calls.clone());
            async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let sig = headers["x-webhook-signature"].to_str().unwrap().to_string();
                kept.lock().unwrap().push((sig, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received, counted)
}

#[tokio::test]
async fn a_finished_job_is_sent_signed_and_retried_after_a_failure() {
    let (url, received, calls) = start_receiver().await;
    let app = spawn_app_with(
        move |c| {
            c.webhooks.url = url;
            c.webhooks.secret = Some(serde_json::from_str("\"whsec_test\"").unwrap());
        },
        Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;

    let (sig, body) = eventually("the webhook to arrive", || async {
        received.lock().unwrap().first().cloned()
    })
    .await;
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["event"], "job.completed");
    assert_eq!(event["data"]["job"]["id"], job["id"]);

    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected);
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..60).contains(&age));

    // The delivery is a system job: retried by the server (the receiver saw
    // two calls), never shown to the user whose job it reports.
    assert_eq!(*calls.lock().unwrap(), 2);
    let page: Value = app
        .get_json("/jobs?job_type=webhook.deliver", &ada.access)
        .await;
    assert_eq!(page["total"], 0, "{page}");
}
