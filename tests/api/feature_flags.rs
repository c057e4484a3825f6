//! Feature flags (API.md 10): admin CRUD by key, the check with its reason,
//! the caller's own evaluated flags, persistence across a restart, and the
//! audit records of flag and setting-definition changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, envelope, spawn_app, test_config};

/// The first account is a superadmin; the second a plain user.
async fn admin_and_user(app: &TestApp) -> (String, crate::helpers::Session) {
    let admin = app.sign_up("root").await.access;
    let user = app.sign_up("ada").await;
    (admin, user)
}

async fn create(app: &TestApp, admin: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/admin/feature-flags", admin, Some(body)).await
}

/// Asserts a 422 naming `field`.
fn assert_field((status, body): (u16, Value), field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
}

async fn check(app: &TestApp, admin: &str, key: &str, user: &str) -> (u16, Value) {
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

#[tokio::test]
async fn a_plain_user_gets_403_from_every_admin_flag_and_usage_route() {
    let app = spawn_app().await;
    let (admin, ada) = admin_and_user(&app).await;
    let body = json!({"key": "k", "flag_type": "boolean"});
    assert_eq!(create(&app, &admin, body.clone()).await.0, 201);
    let routes = [
        (
            Method::POST,
            "/admin/feature-flags".to_string(),
            Some(json!({"key": "mine", "flag_type": "boolean"})),
        ),
        (Method::GET, "/admin/feature-flags".into(), None),
        (Method::GET, "/admin/feature-flags/k".into(), None),
        (
            Method::PATCH,
            "/admin/feature-flags/k".into(),
            Some(json!({"is_enabled": true})),
        ),
        (Method::DELETE, "/admin/feature-flags/k".into(), None),
        (
            Method::GET,
            format!("/admin/feature-flags/k/check?user_id={}", ada.user_id),
            None,
        ),
        (Method::GET, "/admin/usage/top-users".into(), None),
        (
            Method::GET,
            format!("/admin/usage/summary/{}", ada.user_id),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let r = app
            .send(method.clone(), &path, Some(&ada.access), body)
            .await;
        assert_eq!(r.status(), 403, "{method} {path}");
        assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    }
    let flag = app.get_json("/admin/feature-flags/k", &admin).await;
    assert_eq!(
        flag["is_enabled"], false,
        "the refused PATCH changed nothing"
    );
    let page = app.get_json("/admin/feature-flags", &admin).await;
    assert_eq!(
        page["total"], 1,
        "the refused POST and DELETE changed nothing"
    );
}

/// Serves an app on `dir`, which the caller owns (so a second app can reopen it).
/// Waits for the last server's flusher to let go of sled's lock first.
async fn serve_on(dir: &std::path::Path) -> TestApp {
    for _ in 0..500 {
        if let Ok(app) = chorus::Application::build(test_config(dir)).await {
            return TestApp::serve(app);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the data dir did not reopen");
}

/// The audit records in the data dir of a stopped server, oldest first.
async fn audit_records(dir: &std::path::Path) -> Vec<chorus_actors::model::AuditRecord> {
    use chorus_actors::store::{Durability, Store, StoreConfig};
    let config = StoreConfig {
        path: dir.to_path_buf(),
        durability: Durability::Sync,
        cache_capacity: 8 << 20,
        flush_every_ms: 500,
    };
    let mut store = Store::open(&config);
    for _ in 0..500 {
        if store.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        store = Store::open(&config);
    }
    let store = store.unwrap();
    let audit = chorus_actors::audit::Audit::open(store.clone()).unwrap();
    let mut records = audit.recent(1_000).unwrap();
    records.reverse();
    store.close().await.unwrap();
    records
}

#[tokio::test]
async fn flags_survive_a_restart_and_every_flag_and_definition_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve_on(dir.path()).await;
    let admin = app.sign_up("root").await;
    let body = json!({"key": "kept", "flag_type": "user_list", "user_ids": [admin.user_id], "is_enabled": true});
    assert_eq!(create(&app, &admin.access, body).await.0, 201);
    assert_eq!(
        create(
            &app,
            &admin.access,
            json!({"key": "dropped", "flag_type": "boolean"})
        )
        .await
        .0,
        201
    );
    let patch = json!({"flag_type": "percentage", "percentage": 40});
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/admin/feature-flags/kept",
        &admin.access,
        Some(patch),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/admin/feature-flags/dropped",
        &admin.access,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, before) = check(&app, &admin.access, "kept", &admin.user_id).await;

    let def =
        json!({"id": "ui.theme", "name": "Theme", "type": "string", "default_value": "light"});
    let (status, _) = call(
        &app,
        Method::POST,
        "/settings/definitions",
        &admin.access,
        Some(def),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/settings/definitions/ui.theme",
        &admin.access,
        Some(json!({"default_value": "dark"})),
    )
    .await;
    assert_eq!(status, 200);
    let put = json!({"name": "Colour theme", "type": "string", "default_value": "dark"});
    let (status, _) = call(
        &app,
        Method::PUT,
        "/settings/definitions/ui.theme",
        &admin.access,
        Some(put),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/settings/definitions/ui.theme",
        &admin.access,
        None,
    )
    .await;
    assert_eq!(status, 204);
    app.stop().await;

    let app = serve_on(dir.path()).await;
    let admin_again = app.login("root").await;
    let page = app
        .get_json("/admin/feature-flags", &admin_again.access)
        .await;
    assert_eq!(page["total"], 1, "{page}");
    let kept = &page["items"][0];
    assert_eq!(kept["key"], "kept");
    assert_eq!(kept["flag_type"], "percentage");
    assert_eq!(kept["percentage"], 40.0);
    assert_eq!(kept["user_ids"], json!([admin.user_id]));
    let (_, after) = check(&app, &admin_again.access, "kept", &admin.user_id).await;
    assert_eq!(
        after, before,
        "the same user gets the same answer after a restart"
    );
    app.stop().await;

    let records = audit_records(dir.path()).await;
    let ours: Vec<&chorus_actors::model::AuditRecord> = records
        .iter()
        .filter(|r| r.resource_type == "feature_flag" || r.resource_type == "setting_definition")
        .collect();
    let actions: Vec<(&str, Option<&str>)> = ours
        .iter()
        .map(|r| (r.action.as_str(), r.resource_id.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("feature_flag.created", Some("kept")),
            ("feature_flag.created", Some("dropped")),
            ("feature_flag.updated", Some("kept")),
            ("feature_flag.deleted", Some("dropped")),
            ("setting_definition.created", Some("ui.theme")),
            ("setting_definition.updated", Some("ui.theme")),
            ("setting_definition.updated", Some("ui.theme")),
            ("setting_definition.deleted", Some("ui.theme")),
        ]
    );
    for r in &ours {
        assert_eq!(
            r.actor_id.map(|id| id.to_string()),
            Some(admin.user_id.clone())
        );
        assert_eq!(r.ip_address.as_deref(), Some("127.0.0.1"));
    }
    let details: Vec<Value> = ours
        .iter()
        .map(|r| r.details_json.parse().unwrap())
        .collect();
    assert_eq!(details[0]["flag_type"], "user_list");
    assert_eq!(
        details[2]["changes"],
        json!({"flag_type": {"from": "user_list", "to": "percentage"},
               "percentage": {"from": null, "to": 40.0}})
    );
    assert_eq!(details[3]["key"], "dropped");
    assert_eq!(details[4]["default_value"], "light");
    assert_eq!(
        details[5]["changes"],
        json!({"default_value": {"from": "light", "to": "dark"}})
    );
    assert_eq!(
        details[6]["changes"],
        json!({"name": {"from": "Theme", "to": "Colour theme"}})
    );
    assert_eq!(details[7]["name"], "Colour theme");
}
