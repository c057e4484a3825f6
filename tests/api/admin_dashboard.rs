//! The admin dashboard (API.md 10): every figure moves with what it counts,
//! and the stored ones survive a restart. Counts only; the speed is
//! `benches/dashboard.rs`'s.

use axum::Router;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::hardening_jobs::serve_on;
use crate::helpers::{
    LONG, TestApp, call, envelope, eventually, slow_echo, spawn_app, spawn_app_with,
};

async fn stats(app: &TestApp, token: &str) -> Value {
    app.get_json("/admin/dashboard/stats", token).await
}

/// Waits until `path` (e.g. `/jobs/running`) of the stats equals `want`.
async fn until(app: &TestApp, token: &str, path: &str, want: u64) -> Value {
    eventually(&format!("{path} to be {want}"), || async {
        let s = stats(app, token).await;
        (s.pointer(path) == Some(&json!(want))).then_some(s)
    })
    .await
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_plain_user_gets_403_from_the_dashboard() {
    let app = spawn_app().await;
    app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let r = app.get_as("/admin/dashboard/stats", &ada.access).await;
    assert_eq!(r.status(), 403);
    assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn the_stats_have_exactly_the_fields_of_the_contract() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let s = stats(&app, &root.access).await;
    assert_eq!(
        keys(&s),
        ["actors", "connections", "conversations", "jobs", "users"]
    );
    assert_eq!(keys(&s["users"]), ["active", "new_last_7_days", "total"]);
    let jobs = [
        "completed_last_24h",
        "failed_last_24h",
        "pending",
        "running",
    ];
    assert_eq!(keys(&s["jobs"]), jobs);
    assert_eq!(keys(&s["conversations"]), ["active_generations", "total"]);
    assert_eq!(keys(&s["connections"]), ["sse", "websocket"]);
    let actors = ["connections", "conversations", "jobs", "sessions"];
    assert_eq!(keys(&s["actors"]), actors);
    let v2: Value = app
        .client
        .get(app.url("/api/v2/admin/dashboard/stats"))
        .bearer_auth(&root.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&v2["data"]), keys(&s), "v2 wraps the same body");
}

#[tokio::test]
async fn user_figures_count_accounts_deactivations_and_new_ones() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let s = stats(&app, &root.access).await;
    assert_eq!(
        s["users"],
        json!({"total": 1, "active": 1, "new_last_7_days": 1})
    );
    app.register("ada").await;
    let bob = app.register("bob").await;
    let bob = bob["id"].as_str().unwrap();
    let path = format!("/admin/users/{bob}/deactivate");
    let (status, _) = call(&app, Method::POST, &path, &root.access, None).await;
    assert_eq!(status, 200);
    let s = stats(&app, &root.access).await;
    assert_eq!(
        s["users"],
        json!({"total": 3, "active": 2, "new_last_7_days": 3})
    );
    let path = format!("/admin/users/{bob}/activate");
    let (status, _) = call(&app, Method::POST, &path, &root.access, None).await;
    assert_eq!(status, 200);
    assert_eq!(stats(&app, &root.access).await["users"]["active"], 3);
}

#[tokio::test]
async fn job_figures_follow_pending_running_completed_and_failed_jobs() {
    // One slot: a long job runs and the next one waits, pending.
    let app = spawn_app_with(|c| c.jobs.concurrency = 1, Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let id = |j: &Value| j["id"].as_str().unwrap().to_string();
    let (_, done) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    app.job_until(&ada.access, &id(&done), "completed").await;
    let failing = json!({"job_type": "delay", "payload": {"fail": true}, "max_attempts": 1});
    let (_, failed) = app.job(&ada.access, failing).await;
    app.job_until(&ada.access, &id(&failed), "failed").await;
    let s = until(&app, &root.access, "/jobs/failed_last_24h", 1).await;
    assert_eq!(s["jobs"]["completed_last_24h"], 1);

    let long = json!({"job_type": "delay", "payload": {"seconds": 60}});
    let (_, running) = app.job(&ada.access, long.clone()).await;
    app.job_until(&ada.access, &id(&running), "running").await;
    let (_, waiting) = app.job(&ada.access, long).await;
    let s = until(&app, &root.access, "/jobs/pending", 1).await;
    assert_eq!(s["jobs"]["running"], 1);
    assert!(s["actors"]["jobs"].as_u64().unwrap() >= 1, "{s}");

    for job in [&waiting, &running] {
        let path = format!("/jobs/{}/cancel", id(job));
        let (status, _) = call(&app, Method::POST, &path, &ada.access, None).await;
        assert_eq!(status, 200);
    }
    let s = until(&app, &root.access, "/jobs/running", 0).await;
    assert_eq!(s["jobs"]["pending"], 0);
    assert_eq!(s["jobs"]["completed_last_24h"], 1, "cancelled is neither");
    assert_eq!(s["jobs"]["failed_last_24h"], 1);
}

#[tokio::test]
async fn conversations_generations_and_streams_are_counted_while_they_live() {
    let app = spawn_app_with(slow_echo, Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let first = app.conversation(&ada.access, json!({"title": "one"})).await;
    let second = app.conversation(&ada.access, json!({"title": "two"})).await;
    assert_eq!(stats(&app, &root.access).await["conversations"]["total"], 2);
    let path = format!("/conversations/{second}");
    let (status, _) = call(&app, Method::DELETE, &path, &ada.access, None).await;
    assert_eq!(status, 204);
    let s = stats(&app, &root.access).await;
    assert_eq!(
        s["conversations"],
        json!({"total": 1, "active_generations": 0})
    );
    assert_eq!(s["connections"]["sse"], 0);

    // A slow answer (about a second) streamed over SSE.
    let answer = app.chat(&ada.access, &first, LONG).await;
    assert_eq!(answer.status(), 200);
    let mut events = crate::helpers::sse_events(answer);
    assert_eq!(events.next().await.unwrap().event, "start");
    let s = stats(&app, &root.access).await;
    assert_eq!(s["conversations"]["active_generations"], 1, "{s}");
    assert_eq!(s["connections"]["sse"], 1, "{s}");
    assert!(s["actors"]["conversations"].as_u64().unwrap() >= 1, "{s}");
    crate::helpers::until_done(&mut events).await;
    drop(events);
    let s = until(&app, &root.access, "/connections/sse", 0).await;
    let s = match s["conversations"]["active_generations"].as_u64() {
        Some(0) => s,
        _ => until(&app, &root.access, "/conversations/active_generations", 0).await,
    };
    assert_eq!(s["conversations"]["total"], 1);

    // A WebSocket; its actor starts with its first frame.
    let mut socket = app.ws(&ada.access).await;
    let s = stats(&app, &root.access).await;
    assert_eq!(s["connections"]["websocket"], 1, "{s}");
    socket.send(json!({"type": "ping", "ref": "p"})).await;
    assert_eq!(socket.next().await["type"], "pong");
    until(&app, &root.access, "/actors/connections", 1).await;
    drop(socket);
    until(&app, &root.access, "/connections/websocket", 0).await;
}

#[tokio::test]
async fn a_refresh_runs_a_session_actor_the_dashboard_counts() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let r = app
        .post_json(
            "/auth/refresh",
            None,
            json!({"refresh_token": root.refresh}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s = stats(&app, &root.access).await;
    assert!(s["actors"]["sessions"].as_u64().unwrap() >= 1, "{s}");
}

#[tokio::test]
async fn stored_figures_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = serve_on(dir.path()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    app.conversation(&ada.access, json!({"title": "kept"}))
        .await;
    let (_, done) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    app.job_until(&ada.access, done["id"].as_str().unwrap(), "completed")
        .await;
    let later = json!({"job_type": "delay", "scheduled_for": "2999-01-01T00:00:00Z"});
    app.job(&ada.access, later).await;
    let before = until(&app, &root.access, "/jobs/completed_last_24h", 1).await;
    app.stop().await;

    let (app, _) = serve_on(dir.path()).await;
    let root = app.login("root").await;
    let after = stats(&app, &root.access).await;
    assert_eq!(after["users"], before["users"]);
    assert_eq!(after["conversations"]["total"], 1);
    assert_eq!(after["jobs"]["completed_last_24h"], 1);
    let all = app.get_json("/admin/jobs", &root.access).await;
    assert_eq!(all["total"], 2);
    let scheduled = app
        .get_json("/admin/jobs?status=scheduled", &root.access)
        .await;
    assert_eq!(scheduled["total"], 1);
    app.stop().await;
}
