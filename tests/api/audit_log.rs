//! The audit log (API.md 10): what is recorded, the filters and `total`,
//! and that no route deletes a record.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, eventually, spawn_app, spawn_app_with};
use crate::impersonation::records;

/// The page `GET /admin/audit-logs?{query}` answers `admin`.
async fn page(app: &TestApp, admin: &str, query: &str) -> Value {
    app.get_json(&format!("/admin/audit-logs?{query}"), admin)
        .await
}

#[tokio::test]
async fn a_plain_user_gets_403_and_no_route_deletes_a_record() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let (status, body) = call(&app, Method::GET, "/admin/audit-logs", &ada.access, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AUTHORIZATION_ERROR"))
    );
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/admin/audit-logs",
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn every_admin_request_is_recorded_with_its_route_status_and_target() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    app.get_json(&format!("/admin/users/{}", ada.user_id), &root.access)
        .await;
    let r = app
        .client
        .get(app.url("/api/v2/admin/users?limit=5"))
        .bearer_auth(&root.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/admin/users/{unknown}"),
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 404);

    let requests = records(&app, &root.access, "admin.request").await;
    let read = requests
        .iter()
        .find(|r| r["resource_id"] == ada.user_id.as_str())
        .expect("the read of one user");
    assert_eq!(read["actor_id"], root.user_id.as_str());
    assert_eq!(read["resource_type"], "users");
    assert_eq!(read["details"]["route"], "/api/v1/admin/users/{id}");
    assert_eq!(
        (
            read["details"]["method"].as_str(),
            read["details"]["status"].as_u64()
        ),
        (Some("GET"), Some(200))
    );
    assert!(
        read["ip_address"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("127."))
    );
    assert!(
        requests
            .iter()
            .any(|r| r["details"]["route"] == "/api/v2/admin/users")
    );
    assert!(
        requests
            .iter()
            .any(|r| r["resource_id"] == unknown.to_string().as_str()
                && r["details"]["status"] == 404)
    );
    // A plain user's refused attempt did nothing and is not an admin action.
    call(&app, Method::GET, "/admin/users", &ada.access, None).await;
    let by_ada = page(&app, &root.access, &format!("actor_id={}", ada.user_id)).await;
    assert_eq!(by_ada["total"], 0);
}

#[tokio::test]
async fn role_allowance_and_activation_changes_are_recorded_from_and_to() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let user = format!("/admin/users/{}", ada.user_id);
    let body = json!({"role": "admin", "monthly_token_allowance": 5000});
    assert_eq!(
        call(&app, Method::PATCH, &user, &root.access, Some(body))
            .await
            .0,
        200
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("{user}/deactivate"),
            &root.access,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("{user}/activate"),
            &root.access,
            None
        )
        .await
        .0,
        200
    );

    let role = records(&app, &root.access, "user.role_changed").await;
    assert_eq!(role.len(), 1);
    assert_eq!(
        (
            role[0]["details"]["from"].as_str(),
            role[0]["details"]["to"].as_str()
        ),
        (Some("user"), Some("admin"))
    );
    assert_eq!(
        (
            role[0]["actor_id"].as_str(),
            role[0]["resource_id"].as_str()
        ),
        (Some(&*root.user_id), Some(&*ada.user_id))
    );
    let allowance = records(&app, &root.access, "user.allowance_changed").await;
    assert_eq!(allowance[0]["details"]["to"], 5000);
    for action in ["user.deactivated", "user.activated"] {
        let found = records(&app, &root.access, action).await;
        assert_eq!(found.len(), 1, "{action}");
        assert_eq!(found[0]["resource_id"], ada.user_id.as_str());
    }
}

#[tokio::test]
async fn five_failed_sign_ins_are_one_record_with_count_5() {
    let app = spawn_app_with(|c| c.audit.login_burst_quiet_ms = 1500, axum::Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let fail = || {
        app.post_json(
            "/auth/login",
            None,
            json!({"email": "ADA@example.com", "password": "wrong-password"}),
        )
    };
    let answers = futures::future::join_all((0..5).map(|_| fail())).await;
    assert!(answers.iter().all(|r| r.status() == 401));
    let burst = eventually("the burst's record", || async {
        let found = page(&app, &root.access, "action=auth.login_failed").await;
        (found["total"] == 1).then(|| found["items"][0].clone())
    })
    .await;
    assert_eq!(burst["details"]["count"], 5);
    assert_eq!(burst["details"]["email"], "ada@example.com");
    assert_eq!(burst["actor_id"], ada.user_id.as_str());
    assert!(
        burst["details"]["first_at"].as_str().unwrap()
            <= burst["details"]["last_at"].as_str().unwrap()
    );
    assert!(
        burst["details"]["ip_addresses"][0]
            .as_str()
            .is_some_and(|ip| ip.starts_with("127."))
    );
}

#[tokio::test]
async fn filters_combine_totals_count_all_matches_and_a_bad_actor_id_is_422() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    for _ in 0..3 {
        app.get_json("/admin/users", &root.access).await;
    }
    let user = format!("/admin/users/{}", ada.user_id);
    call(
        &app,
        Method::PATCH,
        &user,
        &root.access,
        Some(json!({"role": "admin"})),
    )
    .await;
    // Now ada is an admin too: her reads are admin actions.
    app.get_json("/admin/users", &ada.access).await;

    let mine = format!("actor_id={}", root.user_id);
    let all = page(&app, &root.access, &mine).await;
    let by_root_reads = page(
        &app,
        &root.access,
        &format!("{mine}&action=admin.request&resource_type=users&limit=2"),
    )
    .await;
    assert_eq!(by_root_reads["items"].as_array().unwrap().len(), 2);
    assert_eq!(by_root_reads["total"], 4, "three reads and the patch");
    let skipped = page(
        &app,
        &root.access,
        &format!("{mine}&resource_type=users&limit=2&skip=3"),
    )
    .await;
    assert_eq!(skipped["items"].as_array().unwrap().len(), 1);
    assert!(all["total"].as_u64().unwrap() >= 5, "{all}");
    let by_ada = page(&app, &root.access, &format!("actor_id={}", ada.user_id)).await;
    assert_eq!(by_ada["total"], 1);
    let changes = page(&app, &root.access, "resource_type=user").await;
    assert_eq!(changes["total"], 1, "the role change");
    let items = page(&app, &root.access, "limit=100").await;
    let times: Vec<&str> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for field in [
        "id",
        "actor_id",
        "action",
        "resource_type",
        "resource_id",
        "details",
        "ip_address",
        "created_at",
    ] {
        assert!(items["items"][0].get(field).is_some(), "{field}");
    }

    let (status, body) = call(
        &app,
        Method::GET,
        "/admin/audit-logs?actor_id=nope",
        &root.access,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"]["field"].as_str()),
        (422, Some("actor_id"))
    );
    let (status, _) = call(
        &app,
        Method::GET,
        "/admin/audit-logs?limit=0",
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 422);
}
