//! Impersonation (API.md 10): an admin acts as a plain user with a one-hour
//! token that names both, cannot reach admin routes, and dies at stop over
//! HTTP and on its sockets.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, assert_401, call, envelope, spawn_app};

/// `root` (superadmin), `boss` (admin) and `ada` (a plain user).
async fn cast(app: &TestApp) -> (Session, Session, Session) {
    let root = app.sign_up("root").await;
    let boss = app.sign_up("boss").await;
    let ada = app.sign_up("ada").await;
    let path = format!("/admin/users/{}", boss.user_id);
    let (status, _) = call(
        app,
        Method::PATCH,
        &path,
        &root.access,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200);
    (root, boss, ada)
}

/// `POST /admin/impersonate/start` as `admin` for `user_id`.
async fn start(app: &TestApp, admin: &str, user_id: &str) -> (u16, Value) {
    let body = json!({"user_id": user_id, "reason": "ticket 42: cannot see her chats"});
    call(
        app,
        Method::POST,
        "/admin/impersonate/start",
        admin,
        Some(body),
    )
    .await
}

/// The token of a started impersonation.
async fn token(app: &TestApp, admin: &str, user_id: &str) -> String {
    let (status, body) = start(app, admin, user_id).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The audit records of `action`, newest first, as `admin` reads them.
pub async fn records(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let page = app
        .get_json(
            &format!("/admin/audit-logs?action={action}&limit=100"),
            admin,
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_plain_user_gets_403_from_the_impersonation_routes() {
    let app = spawn_app().await;
    let (_, boss, ada) = cast(&app).await;
    let (status, body) = start(&app, &ada.access, &boss.user_id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AUTHORIZATION_ERROR"))
    );
    let (status, _) = call(
        &app,
        Method::POST,
        "/admin/impersonate/stop",
        &ada.access,
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn nobody_impersonates_an_admin_and_bad_targets_are_refused() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    for (actor, target) in [(&boss, &root), (&root, &boss), (&boss, &boss)] {
        let (status, body) = start(&app, &actor.access, &target.user_id).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("AUTHORIZATION_ERROR"))
        );
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(start(&app, &boss.access, &unknown).await.0, 404);
    for reason in [json!(""), json!("x".repeat(501)), json!("   "), Value::Null] {
        let body = json!({"user_id": ada.user_id, "reason": reason});
        let (status, err) = call(
            &app,
            Method::POST,
            "/admin/impersonate/start",
            &boss.access,
            Some(body),
        )
        .await;
        assert_eq!(
            (status, err["error"]["details"]["field"].as_str()),
            (422, Some("reason")),
            "{reason}"
        );
    }
    let path = format!("/admin/users/{}/deactivate", ada.user_id);
    assert_eq!(
        call(&app, Method::POST, &path, &boss.access, None).await.0,
        200
    );
    let (status, body) = start(&app, &boss.access, &ada.user_id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
}

#[tokio::test]
async fn an_impersonation_token_acts_as_the_target_and_every_request_is_audited_with_both_ids() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    let hers = app
        .conversation(&ada.access, json!({"title": "ada's"}))
        .await;
    app.conversation(&boss.access, json!({"title": "boss's"}))
        .await;
    let (status, started) = start(&app, &boss.access, &ada.user_id).await;
    assert_eq!(status, 200);
    assert_eq!(started["impersonated_user"]["id"], ada.user_id.as_str());
    assert!(
        started.get("refresh_token").is_none(),
        "it cannot be refreshed"
    );
    let token = started["token"].as_str().unwrap();

    let list = app.get_json("/conversations", token).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![hers.as_str()],
        "the target's conversations, not the admin's"
    );
    let me = app.get_json("/auth/me", token).await;
    assert_eq!(
        (me["id"].as_str(), me["impersonated_by"]["id"].as_str()),
        (Some(&*ada.user_id), Some(&*boss.user_id))
    );
    let own = app.get_json("/auth/me", &ada.access).await;
    assert!(own["impersonated_by"].is_null());

    let requests = records(&app, &root.access, "impersonation.request").await;
    let listed = requests
        .iter()
        .find(|r| r["details"]["route"] == "/api/v1/conversations")
        .expect("the list request is audited");
    assert_eq!(listed["actor_id"], boss.user_id.as_str());
    assert_eq!(listed["resource_id"], ada.user_id.as_str());
    assert_eq!(
        (
            listed["details"]["method"].as_str(),
            listed["details"]["status"].as_u64()
        ),
        (Some("GET"), Some(200))
    );
    assert_eq!(
        listed["details"]["impersonated_user_id"],
        ada.user_id.as_str()
    );
    let started = records(&app, &root.access, "impersonation.started").await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["actor_id"], boss.user_id.as_str());
    assert_eq!(
        started[0]["details"]["reason"],
        "ticket 42: cannot see her chats"
    );
    assert_eq!(started[0]["resource_id"], ada.user_id.as_str());
}

#[tokio::test]
async fn an_impersonation_token_cannot_reach_admin_routes_start_another_or_make_credentials() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    let bob = app.sign_up("bob").await;
    let token = token(&app, &boss.access, &ada.user_id).await;
    for path in ["/admin/users", "/admin/audit-logs"] {
        let r = app.get_as(path, &token).await;
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    }
    assert_eq!(
        start(&app, &token, &bob.user_id).await.0,
        403,
        "no impersonation from an impersonation"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        "/api-keys",
        &token,
        Some(json!({"name": "backdoor"})),
    )
    .await;
    assert_eq!(status, 403, "an API key would outlive the impersonation");
    let body = json!({"current_password": "password-ada", "new_password": "locked-out-now"});
    let (status, _) = call(
        &app,
        Method::PUT,
        "/auth/profile/password",
        &token,
        Some(body),
    )
    .await;
    assert_eq!(status, 403);
    // The refused attempts are on the record too.
    let requests = records(&app, &root.access, "impersonation.request").await;
    assert!(
        requests.iter().any(
            |r| r["details"]["route"] == "/api/v1/admin/users" && r["details"]["status"] == 403
        )
    );
}

#[tokio::test]
async fn stopping_revokes_the_token_over_http_and_closes_its_socket() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    let token = token(&app, &boss.access, &ada.user_id).await;
    let mut ws = app.ws(&token).await;
    let mut hers = app.ws(&ada.access).await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/admin/impersonate/stop",
        &boss.access,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "the admin's own token"
    );

    let (status, _) = call(&app, Method::POST, "/admin/impersonate/stop", &token, None).await;
    assert_eq!(status, 204);
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.close_frame())
        .await
        .expect("the socket was not closed")
        .expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (1008, "revoked")
    );
    assert_401(app.get_as("/auth/me", &token).await, "revoked").await;
    assert_401(app.get_as("/conversations", &token).await, "revoked").await;
    assert_eq!(app.ws_refused(&app.ws_url(&token)).await, 401);
    hers.sync().await;
    assert_eq!(
        app.get_as("/auth/me", &ada.access).await.status(),
        200,
        "ada's own session lives on"
    );

    let stopped = records(&app, &root.access, "impersonation.stopped").await;
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["actor_id"], boss.user_id.as_str());
    assert_eq!(stopped[0]["resource_id"], ada.user_id.as_str());
    assert_eq!(
        stopped[0]["details"]["reason"],
        "ticket 42: cannot see her chats"
    );
}

#[tokio::test]
async fn an_impersonation_ends_when_its_admin_is_demoted() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    let token = token(&app, &boss.access, &ada.user_id).await;
    assert_eq!(app.get_as("/auth/me", &token).await.status(), 200);
    let path = format!("/admin/users/{}", boss.user_id);
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        &root.access,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_401(app.get_as("/auth/me", &token).await, "revoked").await;
}

#[tokio::test]
async fn logging_out_with_an_impersonation_token_stops_it_and_keeps_the_cookies() {
    let app = spawn_app().await;
    let (root, boss, ada) = cast(&app).await;
    let token = token(&app, &boss.access, &ada.user_id).await;
    let r = app.post_json("/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), 204);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the browser's cookies are the admin's: they stay"
    );
    assert_401(app.get_as("/auth/me", &token).await, "revoked").await;
    assert_eq!(app.get_as("/auth/me", &boss.access).await.status(), 200);
    let stopped = records(&app, &root.access, "impersonation.stopped").await;
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert_eq!(stopped[0]["actor_id"], boss.user_id.as_str());
    assert_eq!(stopped[0]["resource_id"], ada.user_id.as_str());
}
