//! Issue 10, jobs: the abuse paths of `POST /jobs` and the stranded state
//! around it, each tried from outside against a real server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use chorus::Application;
use chorus::config::Config;
use chorus_actors::store::Store;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, envelope, eventually, spawn_app_with, test_config};

/// The bodies a local webhook receiver got.
type Received = Arc<Mutex<Vec<Value>>>;

async fn start_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn with_webhooks(url: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.webhooks.url = url;
        c.webhooks.secret = Some(serde_json::from_str("\"whsec_test\"").unwrap());
    }
}

#[tokio::test]
async fn a_user_cannot_submit_a_webhook_delivery_job() {
    let (url, received) = start_receiver().await;
    let app = spawn_app_with(with_webhooks(url), Router::new()).await;
    let mallory = app.sign_up("mallory").await;
    let forged = json!({
        "job_type": "webhook.deliver",
        "payload": {"event": "job.completed", "data": {"job": {"id": "anything I like"}}},
        "max_attempts": 100,
    });
    let r = app.post_json("/jobs", Some(&mallory.access), forged).await;
    assert_eq!(r.status(), 422);
    let e = envelope(r).await;
    assert_eq!(e["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(e["error"]["details"]["field"], "job_type");

    // Nothing was signed for her: a real job's delivery is the only one.
    let (_, job) = app.job(&mallory.access, json!({"job_type": "delay"})).await;
    let event = eventually("the real job's webhook", || async {
        received.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(event["data"]["job"]["id"], job["id"]);
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn webhook_deliveries_are_system_jobs_a_user_can_neither_see_nor_touch() {
    let (url, received) = start_receiver().await;
    let app = spawn_app_with(with_webhooks(url), Router::new()).await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let event = eventually("the webhook", || async {
        received.lock().unwrap().first().cloned()
    })
    .await;
    // The body's id is the delivery job's own id.
    let delivery = event["id"].as_str().unwrap().to_string();
    assert_ne!(delivery, job["id"].as_str().unwrap());

    let page = app.get_json("/jobs", &ada.access).await;
    assert_eq!(page["total"], 1, "only her own job: {page}");
    assert_eq!(page["items"][0]["id"], job["id"]);
    let page = app
        .get_json("/jobs?job_type=webhook.deliver", &ada.access)
        .await;
    assert_eq!(page["total"], 0, "{page}");
    for (method, path) in [
        (Method::GET, format!("/jobs/{delivery}")),
        (Method::POST, format!("/jobs/{delivery}/retry")),
        (Method::POST, format!("/jobs/{delivery}/cancel")),
        (Method::GET, format!("/jobs/{delivery}/events")),
        (Method::DELETE, format!("/jobs/{delivery}")),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&ada.access), Some(json!({})))
            .await;
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    assert_eq!(received.lock().unwrap().len(), 1, "no replay of the event");
}

#[tokio::test]
async fn a_delay_job_cannot_hold_a_slot_past_max_delay() {
    let app = spawn_app_with(|c| c.jobs.max_delay_s = 60, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let (status, e) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 61}}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["details"]["field"], "payload.seconds");
    let (status, _) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 0.1}}),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn one_user_cannot_queue_more_than_max_per_user_jobs() {
    let app = spawn_app_with(|c| c.jobs.max_per_user = 3, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let waiting = json!({"job_type": "delay", "scheduled_for": later});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, job) = app.job(&ada.access, waiting.clone()).await;
        assert_eq!(status, 201);
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    let r = app
        .post_json("/jobs", Some(&ada.access), waiting.clone())
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "QUOTA_EXCEEDED");
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 429, "tickets count too");

    // Another user is not held back, and a finished job frees a place.
    let (status, _) = app.job(&bob.access, waiting.clone()).await;
    assert_eq!(status, 201);
    let r = app
        .post_json(
            &format!("/jobs/{}/cancel", ids[0]),
            Some(&ada.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _) = app.job(&ada.access, waiting.clone()).await;
    assert_eq!(status, 201);
    // A retry brings a job back, so it needs a place too.
    let r = app
        .post_json(
            &format!("/jobs/{}/retry", ids[0]),
            Some(&ada.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn a_document_refused_at_the_job_cap_leaves_nothing_behind() {
    let app = spawn_app_with(|c| c.jobs.max_per_user = 1, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, _) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "scheduled_for": later}),
        )
        .await;
    assert_eq!(status, 201);
    let r = app
        .post_json(
            "/documents",
            Some(&ada.access),
            json!({"title": "notes", "text": "some text"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "QUOTA_EXCEEDED");
    let page = app.get_json("/documents", &ada.access).await;
    assert_eq!(page["total"], 0, "no document stuck processing: {page}");
}

#[tokio::test]
async fn a_user_cannot_take_a_system_priority() {
    let app = spawn_app_with(|_| {}, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let (status, e) = app
        .job(&ada.access, json!({"job_type": "delay", "priority": 6}))
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["details"]["field"], "priority");
    let (status, _) = app
        .job(&ada.access, json!({"job_type": "delay", "priority": 5}))
        .await;
    assert_eq!(status, 201);
}

fn started(job: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(job["started_at"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn one_user_cannot_hold_more_than_half_the_job_slots_while_others_wait() {
    let app = spawn_app_with(|c| c.jobs.concurrency = 2, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    // Ada's first two jobs take both slots; her third and Bob's job wait.
    let mut hers = Vec::new();
    for seconds in [1.0, 3.0, 0.5] {
        let body = json!({"job_type": "delay", "payload": {"seconds": seconds}});
        let (_, job) = app.job(&ada.access, body).await;
        hers.push(job["id"].as_str().unwrap().to_string());
    }
    app.job_until(&ada.access, &hers[1], "running").await;
    let body = json!({"job_type": "delay", "payload": {"seconds": 0.5}});
    let (_, his) = app.job(&bob.access, body).await;
    // When her first job ends she still holds half the slots: the free one
    // is Bob's, although her third job is older.
    let his = app
        .job_until(&bob.access, his["id"].as_str().unwrap(), "completed")
        .await;
    let third = app.job_until(&ada.access, &hers[2], "completed").await;
    assert!(
        started(&his) < started(&third),
        "bob waited behind ada's third job: {his} {third}"
    );
}

#[tokio::test]
async fn chat_jobs_spend_the_ai_rate_class() {
    let app = spawn_app_with(|c| c.rate_limits.ai = 2, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let chat =
        json!({"job_type": "chat", "payload": {"messages": [{"role": "user", "content": "hi"}]}});
    for _ in 0..2 {
        let (status, e) = app.job(&ada.access, chat.clone()).await;
        assert_eq!(status, 201, "{e}");
    }
    let r = app
        .post_json("/jobs", Some(&ada.access), chat.clone())
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(envelope(r).await["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 429, "one bucket for every way to call a model");
    // Other job types are not in that class.
    let (status, _) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_chat_job_cannot_ask_for_more_than_five_attempts() {
    let app = spawn_app_with(|_| {}, Router::new()).await;
    let ada = app.sign_up("ada").await;
    let chat = |n: u32| {
        json!({"job_type": "chat", "max_attempts": n,
               "payload": {"messages": [{"role": "user", "content": "hi"}]}})
    };
    let (status, e) = app.job(&ada.access, chat(6)).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["details"]["field"], "max_attempts");
    let (status, _) = app.job(&ada.access, chat(5)).await;
    assert_eq!(status, 201);
}

/// A server on `dir` that outlives its `TestApp` handle's data dir rules:
/// the caller owns `dir`, so the server can be stopped and started again.
pub async fn serve_on(dir: &std::path::Path) -> (TestApp, chorus_actors::Core) {
    let config = test_config(dir);
    // sled's file lock outlives a stopped server by a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let app = loop {
        match Application::build(config.clone()).await {
            Ok(app) => break app,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("server did not start: {e}"),
        }
    };
    let core = app.state().core.clone();
    (TestApp::serve(app), core)
}

/// Opens the stopped server's store, as an operator's tool would.
async fn open_store(dir: &std::path::Path) -> Store {
    let config = chorus::core_config(&test_config(dir)).store;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(&config) {
            Ok(store) => return store,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "store: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn an_unreadable_ticket_is_a_500_not_a_404() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = serve_on(dir.path()).await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    let id: Uuid = r.json::<Value>().await.unwrap()["ticket_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    eventually("the ticket to complete", || async {
        let t = app.get_json(&format!("/chat/{id}"), &ada.access).await;
        (t["status"] == "completed").then_some(())
    })
    .await;
    app.stop().await;

    let store = open_store(dir.path()).await;
    let jobs: chorus_actors::store::Table<Uuid, String> = store.table("jobs").unwrap();
    jobs.insert(&id, &"not a job record".to_string()).unwrap();
    store.close().await.unwrap();
    drop((jobs, store));

    let (app, _) = serve_on(dir.path()).await;
    let ada = app.login("ada").await;
    let r = app.get_as(&format!("/chat/{id}"), &ada.access).await;
    assert_eq!(r.status(), 500);
    let e = envelope(r).await;
    assert_eq!(e["error"]["code"], "INTERNAL_ERROR");
    assert!(!e.to_string().contains("codec"), "no internals: {e}");
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_active_job_entry_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = serve_on(dir.path()).await;
    app.stop().await;
    let store = open_store(dir.path()).await;
    let active: chorus_actors::store::Table<str, ()> = store.table("jobs_active").unwrap();
    active.insert("not-a-job-id", &()).unwrap();
    store.close().await.unwrap();
    drop((active, store));

    let config = test_config(dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        match Application::build(config.clone()).await {
            Ok(_) => panic!("started with a job it cannot read"),
            Err(e) if e.to_string().contains("jobs_active") => break e,
            Err(e) => {
                // sled's file lock outlives the store by a moment.
                assert!(tokio::time::Instant::now() < deadline, "other error: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(
        error.to_string().contains("not-a-job-id") || error.to_string().contains("6e6f"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stopped_server_leaves_no_background_task_running() {
    let (url, _) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    with_webhooks(url)(&mut config);
    let app = Application::build(config).await.unwrap();
    let core = app.state().core.clone();
    let app = TestApp::serve(app);
    assert!(
        core.background().len() >= 2,
        "the scheduler and the webhook forwarder run on the core's tracker"
    );
    app.stop().await;
    assert!(core.background().is_closed());
    assert_eq!(core.background().len(), 0, "every background task ended");
}
