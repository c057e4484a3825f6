//! Notifications (API.md 2.3, 6): each trigger reaches the user's socket
//! live as `notification`, the same object is listed by REST, and read /
//! read-all change only the caller's own.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, call, envelope, eventually, spawn_app};
use crate::ws_client::WsClient;

/// The next `notification` on `ws`: its `data`.
async fn next_notification(ws: &mut WsClient) -> Value {
    ws.next_of("notification").await["data"].clone()
}

async fn list(app: &TestApp, who: &Session, query: &str) -> Value {
    app.get_json(&format!("/notifications{query}"), &who.access)
        .await
}

/// The live copy and the REST copy are one object.
async fn assert_listed(app: &TestApp, who: &Session, live: &Value) {
    let page = list(app, who, "?limit=100").await;
    let items = page["items"].as_array().unwrap();
    let listed = items.iter().find(|n| n["id"] == live["id"]);
    assert_eq!(listed, Some(live), "REST lists what the socket got");
}

async fn patch_user(app: &TestApp, admin: &Session, user: &Session, body: Value) {
    let path = format!("/admin/users/{}", user.user_id);
    let (status, _) = call(app, Method::PATCH, &path, &admin.access, Some(body)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_job_that_completes_or_fails_notifies_its_owners_socket() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    let (_, done) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 0}}),
        )
        .await;
    let live = next_notification(&mut ws).await;
    assert_eq!(live["kind"], "job.completed", "{live}");
    assert_eq!(live["data"]["job_id"], done["id"]);
    assert_eq!(live["data"]["job_type"], "delay");
    assert_eq!(live["read"], false);
    assert!(live["read_at"].is_null());
    assert!(live["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_listed(&app, &ada, &live).await;
    let body = json!({"job_type": "delay", "payload": {"fail": true}, "max_attempts": 1});
    let (_, failed) = app.job(&ada.access, body).await;
    let live = next_notification(&mut ws).await;
    assert_eq!(live["kind"], "job.failed", "{live}");
    assert_eq!(live["data"]["job_id"], failed["id"]);
    assert!(live["data"]["error"].as_str().unwrap().contains("fail"));
    assert_listed(&app, &ada, &live).await;
    let page = list(&app, &ada, "").await;
    assert_eq!(
        (page["total"].as_u64(), page["unread"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["items"][0]["kind"], "job.failed", "newest first");
}

#[tokio::test]
async fn an_ingested_document_is_notified_as_ready_with_its_title() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    let body = json!({"title": "Field notes", "text": "Otters hold hands while they sleep."});
    let r = app.post_json("/documents", Some(&ada.access), body).await;
    assert_eq!(r.status(), 202);
    let doc: Value = r.json().await.unwrap();
    let live = next_notification(&mut ws).await;
    assert_eq!(live["kind"], "document.ready", "{live}");
    assert_eq!(live["data"]["document_id"], doc["document_id"]);
    assert_eq!(live["data"]["title"], "Field notes");
    assert_eq!(live["data"]["chunk_count"], 1);
    assert!(live["body"].as_str().unwrap().contains("Field notes"));
    assert_listed(&app, &ada, &live).await;
    let page = list(&app, &ada, "").await;
    assert_eq!(page["total"], 1, "one notice, not also job.completed");
}

#[tokio::test]
async fn the_allowance_notices_go_out_at_80_and_100_percent_once_each() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    patch_user(&app, &root, &ada, json!({"monthly_token_allowance": 25})).await;
    let live = next_notification(&mut ws).await;
    assert_eq!(live["kind"], "account.allowance_changed", "{live}");
    assert_eq!(live["data"], json!({"from": null, "to": 25}));
    // 5 prompt + 5 answer tokens a call: 40%, 80%, then past 100%.
    let ask = json!({"messages": [{"role": "user", "content": "one two three four five"}]});
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let r = app
            .post_json("/ai/completions", Some(&ada.access), ask.clone())
            .await;
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let live = next_notification(&mut ws).await;
        assert_listed(&app, &ada, &live).await;
        kinds.push(live["kind"].as_str().unwrap().to_string());
        if live["kind"] == "quota.exceeded" {
            assert_eq!(live["data"]["allowance"], 25);
            assert_eq!(live["data"]["percent"], 100);
        }
    }
    assert_eq!(kinds, ["quota.warning", "quota.exceeded"]);
    let refused = app
        .post_json("/ai/completions", Some(&ada.access), ask)
        .await;
    assert_eq!(refused.status(), 429);
    ws.sync().await;
    let page = list(&app, &ada, "").await;
    let quota: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"].as_str().unwrap().starts_with("quota."))
        .collect();
    assert_eq!(quota.len(), 2, "once each: {page}");
}

#[tokio::test]
async fn a_role_change_by_an_admin_is_notified() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    patch_user(&app, &root, &ada, json!({"role": "admin"})).await;
    let live = next_notification(&mut ws).await;
    assert_eq!(live["kind"], "account.role_changed", "{live}");
    assert_eq!(live["data"], json!({"from": "user", "to": "admin"}));
    assert_listed(&app, &ada, &live).await;
    // A PATCH that changes nothing tells nothing.
    patch_user(&app, &root, &ada, json!({"role": "admin"})).await;
    assert!(ws.sync().await.iter().all(|m| m["type"] != "notification"));
}

#[tokio::test]
async fn an_offline_user_reads_marks_one_and_marks_all_read() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    patch_user(&app, &root, &ada, json!({"role": "admin"})).await;
    patch_user(&app, &root, &ada, json!({"monthly_token_allowance": 1000})).await;
    patch_user(&app, &root, &bob, json!({"monthly_token_allowance": 5})).await;
    let page = list(&app, &ada, "").await;
    assert_eq!(
        (page["total"].as_u64(), page["unread"].as_u64()),
        (Some(2), Some(2))
    );
    let newest = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, read) = call(
        &app,
        Method::POST,
        &format!("/notifications/{newest}/read"),
        &ada.access,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["read"], true);
    assert!(read["read_at"].as_str().unwrap().ends_with('Z'));
    let unread = list(&app, &ada, "?unread=true").await;
    assert_eq!(
        (unread["total"].as_u64(), unread["unread"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(unread["items"][0]["kind"], "account.role_changed");
    let (status, all) = call(
        &app,
        Method::POST,
        "/notifications/read-all",
        &ada.access,
        None,
    )
    .await;
    assert_eq!((status, all), (200, json!({"updated": 1})));
    let page = list(&app, &ada, "").await;
    assert_eq!(
        (page["total"].as_u64(), page["unread"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        list(&app, &bob, "").await["unread"],
        1,
        "bob's are untouched"
    );
}

#[tokio::test]
async fn another_users_or_an_unknown_notification_is_404_and_bad_input_422() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    patch_user(&app, &root, &ada, json!({"role": "admin"})).await;
    let id = eventually("ada's notification", || async {
        let page = list(&app, &ada, "").await;
        page["items"][0]["id"].as_str().map(str::to_string)
    })
    .await;
    // Bob attacks ada's notification by its id: it does not exist for him.
    let r = app
        .send(
            Method::POST,
            &format!("/notifications/{id}/read"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(envelope(r).await["error"]["code"], "NOT_FOUND");
    assert_eq!(
        list(&app, &ada, "?unread=true").await["total"],
        1,
        "still unread"
    );
    let unknown = uuid::Uuid::now_v7();
    let r = app
        .send(
            Method::POST,
            &format!("/notifications/{unknown}/read"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .send(
            Method::POST,
            "/notifications/not-a-uuid/read",
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app.get_as("/notifications?limit=0", &ada.access).await;
    assert_eq!(r.status(), 422);
    assert_eq!(envelope(r).await["error"]["details"]["field"], "limit");
    let r = app
        .client
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
