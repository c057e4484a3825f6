//! Feature flags (API.md 10): admin CRUD by key, the check with its reason,
//! the caller's own evaluated flags, persistence across a restart, and the
//! audit records of flag and setting-definition changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, envelope, spawn_app};

/// The first account is a superadmin; the second a plain user.
pub(crate) async fn admin_and_user(app: &TestApp) -> (String, crate::helpers::Session) {
    let admin = app.sign_up("root").await.access;
    let user = app.sign_up("ada").await;
    (admin, user)
}

pub(crate) async fn create(app: &TestApp, admin: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/admin/feature-flags", admin, Some(body)).await
}

/// Asserts a 422 naming `field`.
fn assert_field((status, body): (u16, Value), field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
}

pub(crate) async fn check(app: &TestApp, admin: &str, key: &str, user: &str) -> (u16, Value) {
    let path = format!("/admin/feature-flags/{key}/check?user_id={user}");
    call(app, Method::GET, &path, admin, None).await
}

#[tokio::test]
async fn an_admin_creates_lists_reads_patches_and_deletes_a_flag_by_key() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let (status, flag) = create(
        &app,
        &admin,
        json!({"key": "new-ui", "name": "New UI", "description": "the redesign",
               "flag_type": "boolean", "is_enabled": true}),
    )
    .await;
    assert_eq!(status, 201, "{flag}");
    assert_eq!(flag["key"], "new-ui");
    assert_eq!(flag["flag_type"], "boolean");
    assert_eq!(flag["is_enabled"], true);
    assert_eq!(flag["percentage"], Value::Null);
    assert_eq!(flag["user_ids"], json!([]));
    assert!(flag["created_at"].as_str().unwrap().ends_with('Z'));
    let (status, second) = create(
        &app,
        &admin,
        json!({"key": "beta", "flag_type": "percentage", "percentage": 25}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(second["name"], "beta", "the name defaults to the key");
    assert_eq!(second["is_enabled"], false, "a new flag is off by default");

    let (status, dup) = create(
        &app,
        &admin,
        json!({"key": "new-ui", "flag_type": "boolean"}),
    )
    .await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["error"]["code"], "CONFLICT");

    let page = app.get_json("/admin/feature-flags?limit=1", &admin).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["items"][0]["key"], "beta", "key order");
    let page = app.get_json("/admin/feature-flags?skip=1", &admin).await;
    assert_eq!(page["items"][0]["key"], "new-ui");

    let one = app.get_json("/admin/feature-flags/new-ui", &admin).await;
    assert_eq!(one["description"], "the redesign");
    let (status, patched) = call(
        &app,
        Method::PATCH,
        "/admin/feature-flags/new-ui",
        &admin,
        Some(json!({"is_enabled": false, "description": null, "key": "renamed"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["is_enabled"], false);
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["key"], "new-ui", "the key never changes");
    assert_eq!(patched["created_at"], one["created_at"]);

    let (status, _) = call(
        &app,
        Method::DELETE,
        "/admin/feature-flags/new-ui",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::DELETE] {
        let r = app
            .send(
                method.clone(),
                "/admin/feature-flags/new-ui",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status(), 404, "{method} after delete");
        let body = envelope(r).await;
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/admin/feature-flags/nobody",
        &admin,
        Some(json!({"is_enabled": true})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn each_flag_type_is_validated_naming_the_field_it_needs() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let cases = [
        (json!({"key": "Bad Key", "flag_type": "boolean"}), "key"),
        (
            json!({"key": "x".repeat(65), "flag_type": "boolean"}),
            "key",
        ),
        (json!({"key": "p", "flag_type": "percentage"}), "percentage"),
        (
            json!({"key": "p", "flag_type": "percentage", "percentage": 100.5}),
            "percentage",
        ),
        (
            json!({"key": "p", "flag_type": "percentage", "percentage": -1}),
            "percentage",
        ),
        (json!({"key": "u", "flag_type": "user_list"}), "user_ids"),
        (
            json!({"key": "u", "flag_type": "user_list", "user_ids": ["nope"]}),
            "user_ids[0]",
        ),
        (
            json!({"key": "r", "flag_type": "role_based", "roles": []}),
            "roles",
        ),
        (
            json!({"key": "r", "flag_type": "role_based", "roles": ["owner"]}),
            "roles[0]",
        ),
        (json!({"key": "t", "flag_type": "sometimes"}), "flag_type"),
        (
            json!({"key": "n", "flag_type": "boolean", "name": " "}),
            "name",
        ),
    ];
    for (body, field) in cases {
        assert_field(create(&app, &admin, body).await, field);
    }
    // A change is checked as a whole: a type switch needs its field.
    let (status, _) = create(&app, &admin, json!({"key": "b", "flag_type": "boolean"})).await;
    assert_eq!(status, 201);
    let switch = call(
        &app,
        Method::PATCH,
        "/admin/feature-flags/b",
        &admin,
        Some(json!({"flag_type": "user_list"})),
    )
    .await;
    assert_field(switch, "user_ids");
    let flag = app.get_json("/admin/feature-flags/b", &admin).await;
    assert_eq!(
        flag["flag_type"], "boolean",
        "a refused change changes nothing"
    );
    let r = app.get_as("/admin/feature-flags/NOT_A_KEY", &admin).await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn a_check_answers_each_types_reasons_and_404s_unknown_flags_and_users() {
    let app = spawn_app().await;
    let (admin, ada) = admin_and_user(&app).await;
    let root_id = app.get_json("/users/me", &admin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let flags = [
        json!({"key": "on", "flag_type": "boolean", "is_enabled": true}),
        json!({"key": "off", "flag_type": "boolean", "is_enabled": false}),
        json!({"key": "all", "flag_type": "percentage", "percentage": 100, "is_enabled": true}),
        json!({"key": "none", "flag_type": "percentage", "percentage": 0, "is_enabled": true}),
        json!({"key": "listed", "flag_type": "user_list", "user_ids": [ada.user_id], "is_enabled": true}),
        json!({"key": "admins", "flag_type": "role_based", "roles": ["admin", "superadmin"], "is_enabled": true}),
    ];
    for body in flags {
        assert_eq!(create(&app, &admin, body).await.0, 201);
    }
    let expect = [
        ("on", &ada.user_id, true, "enabled"),
        ("off", &ada.user_id, false, "disabled"),
        ("all", &ada.user_id, true, "percentage"),
        ("none", &ada.user_id, false, "percentage_excluded"),
        ("listed", &ada.user_id, true, "user_list"),
        ("listed", &root_id, false, "not_in_user_list"),
        ("admins", &root_id, true, "role"),
        ("admins", &ada.user_id, false, "role_excluded"),
    ];
    for (key, user, on, reason) in expect {
        let (status, body) = check(&app, &admin, key, user).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"flag_key": key, "is_enabled": on, "reason": reason}),
            "{key} for {user}"
        );
    }
    let stranger = uuid::Uuid::now_v7().to_string();
    let (status, body) = check(&app, &admin, "on", &stranger).await;
    assert_eq!(status, 404, "unknown user: {body}");
    let (status, _) = check(&app, &admin, "missing", &ada.user_id).await;
    assert_eq!(status, 404, "unknown flag");
    let (status, body) = call(
        &app,
        Method::GET,
        "/admin/feature-flags/on/check",
        &admin,
        None,
    )
    .await;
    assert_field((status, body), "user_id");
    let (status, _) = check(&app, &admin, "on", "not-a-uuid").await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_percentage_rollout_gives_the_same_user_the_same_answer_every_time() {
    // Fourteen sign-ups and sign-ins from one IP: past the `auth` class's 20 a minute.
    let app =
        crate::helpers::spawn_app_with(|c| c.rate_limits.auth = 1_000, axum::Router::new()).await;
    let (admin, _) = admin_and_user(&app).await;
    let body =
        json!({"key": "half", "flag_type": "percentage", "percentage": 50, "is_enabled": true});
    assert_eq!(create(&app, &admin, body).await.0, 201);
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.sign_up(&format!("user{i}")).await);
    }
    let mut answers = Vec::new();
    for u in &users {
        let (_, first) = check(&app, &admin, "half", &u.user_id).await;
        for _ in 0..3 {
            assert_eq!(check(&app, &admin, "half", &u.user_id).await.1, first);
        }
        let mine = app.get_json("/feature-flags", &u.access).await;
        assert_eq!(
            mine["flags"]["half"], first["is_enabled"],
            "the user sees what the check says"
        );
        answers.push(first["is_enabled"].as_bool().unwrap());
    }
    // At 50 %, 12 users all landing on one side has odds of 1 in 2,048.
    assert!(
        answers.contains(&true) && answers.contains(&false),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_user_reads_their_evaluated_flags_and_sees_a_change_at_once() {
    let app = spawn_app().await;
    let (admin, ada) = admin_and_user(&app).await;
    let empty = app.get_json("/feature-flags", &ada.access).await;
    assert_eq!(empty, json!({"flags": {}}));
    let on = json!({"key": "dark-mode", "flag_type": "boolean", "is_enabled": true});
    assert_eq!(create(&app, &admin, on).await.0, 201);
    let roles = json!({"key": "admin-tools", "flag_type": "role_based", "roles": ["admin"], "is_enabled": true});
    assert_eq!(create(&app, &admin, roles).await.0, 201);
    let mine = app.get_json("/feature-flags", &ada.access).await;
    assert_eq!(
        mine,
        json!({"flags": {"admin-tools": false, "dark-mode": true}})
    );
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/admin/feature-flags/dark-mode",
        &admin,
        Some(json!({"is_enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let mine = app.get_json("/feature-flags", &ada.access).await;
    assert_eq!(
        mine["flags"]["dark-mode"], false,
        "the answer after a PATCH is the new one"
    );
    let v2 = app
        .client
        .get(app.url("/api/v2/feature-flags"))
        .bearer_auth(&ada.access)
        .send()
        .await
        .unwrap();
    let v2: Value = v2.json().await.unwrap();
    assert_eq!(v2["data"]["flags"]["dark-mode"], false);
}
