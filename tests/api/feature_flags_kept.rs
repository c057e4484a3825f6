//! Feature flags (API.md 10), continued: every admin flag and usage route
//! refuses a plain user, and flags outlive a restart with every flag and
//! setting-definition change in the audit log.

use reqwest::Method;
use serde_json::{Value, json};

use super::feature_flags::{admin_and_user, check, create};
use crate::helpers::{TestApp, call, envelope, eventually, spawn_app, test_config};

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
    let app = eventually("the data dir to reopen", || async {
        chorus::Application::build(test_config(dir)).await.ok()
    })
    .await;
    TestApp::serve(app)
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
