//! Admin jobs (API.md 10): every user's jobs and the system's, filtered and
//! paged, and an admin's retry of anyone's job.

use axum::Router;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{call, envelope, eventually, spawn_app, spawn_app_with};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_plain_user_gets_403_from_the_admin_job_routes() {
    let app = spawn_app().await;
    app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let id = job["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "/admin/jobs".to_string()),
        (Method::POST, format!("/admin/jobs/{id}/retry")),
    ] {
        let r = app.send(method, &path, Some(&ada.access), None).await;
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    }
}

#[tokio::test]
async fn admins_page_and_filter_every_users_jobs_newest_first() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let (_, done) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let failing = json!({"job_type": "delay", "payload": {"fail": true}, "max_attempts": 1});
    let (_, failed) = app.job(&ada.access, failing).await;
    let later = json!({"job_type": "delay", "scheduled_for": "2999-01-01T00:00:00Z"});
    let (_, scheduled) = app.job(&bob.access, later).await;
    let id = |j: &Value| j["id"].as_str().unwrap().to_string();
    app.job_until(&ada.access, &id(&done), "completed").await;
    app.job_until(&ada.access, &id(&failed), "failed").await;

    let all = app.get_json("/admin/jobs", &root.access).await;
    assert_eq!(all["total"], 3);
    assert_eq!(ids(&all), [id(&scheduled), id(&failed), id(&done)]);
    assert_eq!(all["items"][0]["user_id"], bob.user_id.as_str());
    assert_eq!(all["items"][0]["status"], "scheduled");

    let page = app
        .get_json("/admin/jobs?skip=1&limit=1", &root.access)
        .await;
    assert_eq!(
        (page["total"].clone(), ids(&page)),
        (json!(3), vec![id(&failed)])
    );

    let cases = [
        (
            format!("?user_id={}", ada.user_id),
            vec![id(&failed), id(&done)],
        ),
        ("?status=failed".to_string(), vec![id(&failed)]),
        ("?status=completed".to_string(), vec![id(&done)]),
        ("?status=scheduled".to_string(), vec![id(&scheduled)]),
        ("?status=pending".to_string(), vec![]),
        (
            "?job_type=delay".to_string(),
            vec![id(&scheduled), id(&failed), id(&done)],
        ),
        (
            "?job_type=delay&status=completed".to_string(),
            vec![id(&done)],
        ),
        ("?job_type=chat".to_string(), vec![]),
        (
            format!("?user_id={}&status=scheduled", bob.user_id),
            vec![id(&scheduled)],
        ),
        (format!("?user_id={}&status=failed", bob.user_id), vec![]),
    ];
    for (query, want) in cases {
        let page = app
            .get_json(&format!("/admin/jobs{query}"), &root.access)
            .await;
        assert_eq!(ids(&page), want, "{query}");
        assert_eq!(page["total"], want.len(), "total of {query}");
    }
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_field() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    for (query, field) in [
        ("status=done", "status"),
        ("user_id=not-a-uuid", "user_id"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("skip=-1", "skip"),
    ] {
        let r = app
            .get_as(&format!("/admin/jobs?{query}"), &root.access)
            .await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(
            envelope(r).await["error"]["details"]["field"],
            field,
            "{query}"
        );
    }
}

#[tokio::test]
async fn system_jobs_are_listed_with_no_owner() {
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let hook = Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(receiver, hook).await.unwrap() });
    let app = spawn_app_with(
        move |c| {
            c.webhooks.url = url;
            c.webhooks.secret = Some(serde_json::from_str("\"whsec_test\"").unwrap());
        },
        Router::new(),
    )
    .await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let id = job["id"].as_str().unwrap();
    app.job_until(&ada.access, id, "completed").await;

    let delivery = eventually("the webhook delivery job", || async {
        let page = app
            .get_json("/admin/jobs?job_type=webhook.deliver", &root.access)
            .await;
        (page["total"] == 1).then(|| page["items"][0].clone())
    })
    .await;
    assert_eq!(
        delivery["user_id"],
        Value::Null,
        "a system job has no owner"
    );
    let nil = "00000000-0000-0000-0000-000000000000";
    let system = app
        .get_json(&format!("/admin/jobs?user_id={nil}"), &root.access)
        .await;
    assert_eq!(ids(&system), [delivery["id"].as_str().unwrap()]);
    let everything = app.get_json("/admin/jobs", &root.access).await;
    assert_eq!(everything["total"], 2, "the user's job and the system's");
    // The owner never sees it.
    let mine = app.get_json("/jobs", &ada.access).await;
    assert_eq!(ids(&mine), [id]);
}

#[tokio::test]
async fn an_admin_retries_any_users_failed_job_back_to_pending() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let failing = json!({"job_type": "delay", "payload": {"fail": true}, "max_attempts": 1});
    let (_, failed) = app.job(&ada.access, failing).await;
    let failed = failed["id"].as_str().unwrap().to_string();
    app.job_until(&ada.access, &failed, "failed").await;
    let (_, done) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let done = done["id"].as_str().unwrap().to_string();
    app.job_until(&ada.access, &done, "completed").await;

    let path = format!("/admin/jobs/{failed}/retry");
    let (status, body) = call(&app, Method::POST, &path, &root.access, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts"], 0);
    assert_eq!(body["user_id"], ada.user_id.as_str());
    // It runs again (and fails again: same payload), as the owner sees.
    eventually("the retried attempt to end", || async {
        let job = app.get_job(&ada.access, &failed).await;
        (job["status"] == "failed" && job["attempts"] == 1).then_some(())
    })
    .await;
    let events = app
        .get_json(&format!("/jobs/{failed}/events"), &ada.access)
        .await;
    let retried = events.as_array().unwrap().iter();
    assert_eq!(retried.filter(|e| e["type"] == "retrying").count(), 1);

    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/admin/jobs/{done}/retry"),
        &root.access,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("CONFLICT"))
    );
    let unknown = format!("/admin/jobs/{}/retry", uuid::Uuid::now_v7());
    let (status, body) = call(&app, Method::POST, &unknown, &root.access, None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("NOT_FOUND"))
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/admin/jobs/x/retry",
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn the_job_metrics_are_exported_for_every_status_and_type_before_any_job() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for status in [
        "pending",
        "scheduled",
        "running",
        "completed",
        "failed",
        "cancelled",
    ] {
        let line = format!("chorus_jobs{{status=\"{status}\"}}");
        assert!(text.contains(&line), "{line} missing");
    }
    assert!(
        text.contains("chorus_job_duration_seconds") && text.contains("job_type=\"delay\""),
        "the duration histogram is registered per job type"
    );
}
