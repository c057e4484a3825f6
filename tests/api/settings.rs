//! Two-tier settings (API.md 8): definitions by admins, values by users,
//! resolve from page over user over system over the default.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, envelope, spawn_app};

/// The first account is a superadmin; the second a plain user.
async fn admin_and_user(app: &TestApp) -> (String, String) {
    let admin = app.sign_up("root").await.access;
    let user = app.sign_up("ada").await.access;
    (admin, user)
}

async fn define(app: &TestApp, admin: &str, body: Value) -> Value {
    let (status, def) = call(
        app,
        Method::POST,
        "/settings/definitions",
        admin,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{def}");
    def
}

fn font_size() -> Value {
    json!({"id": "ui.font_size", "name": "Font size", "category": "appearance", "type": "number",
        "default_value": 14, "allowed_scopes": ["system", "user", "page"], "validation": {"min": 8, "max": 32}})
}

async fn set(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/settings/instances", token, Some(body)).await
}

/// Asserts a 422 naming `field` and `rule`; returns the details.
async fn assert_rule(response: (u16, Value), field: &str, rule: &str) -> Value {
    let (status, body) = response;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
    assert_eq!(body["error"]["details"]["rule"], rule, "{body}");
    body["error"]["details"].clone()
}

#[tokio::test]
async fn only_admins_write_definitions_and_every_user_reads_them() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/settings/definitions",
        &user,
        Some(font_size()),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "AUTHORIZATION_ERROR");
    let def = define(&app, &admin, font_size()).await;
    assert_eq!(def["validation"]["max"], 32);
    assert_eq!(def["default_value"], 14);
    let path = "/settings/definitions/ui.font_size";
    for (method, body) in [
        (Method::PUT, Some(font_size())),
        (Method::PATCH, Some(json!({"name": "Text size"}))),
        (Method::DELETE, None),
    ] {
        let (status, _) = call(&app, method.clone(), path, &user, body).await;
        assert_eq!(status, 403, "{method}");
    }
    let page = app.get_json("/settings/definitions", &user).await;
    assert_eq!(
        (page["total"].as_u64(), page["items"][0]["id"].as_str()),
        (Some(1), Some("ui.font_size"))
    );
    assert_eq!(app.get_json(path, &user).await["name"], "Font size");

    let (status, _) = call(
        &app,
        Method::POST,
        "/settings/definitions",
        &admin,
        Some(font_size()),
    )
    .await;
    assert_eq!(status, 409, "the id is taken");
    let (status, patched) = call(
        &app,
        Method::PATCH,
        path,
        &admin,
        Some(json!({"name": "Text size"})),
    )
    .await;
    assert_eq!(
        (
            status,
            patched["name"].as_str(),
            patched["validation"]["min"].as_i64()
        ),
        (200, Some("Text size"), Some(8))
    );
    let mut replaced = font_size();
    replaced["default_value"] = json!(12);
    let (status, put) = call(&app, Method::PUT, path, &admin, Some(replaced)).await;
    assert_eq!(
        (status, put["default_value"].as_i64(), put["name"].as_str()),
        (200, Some(12), Some("Font size"))
    );
    let r = app.get_as("/settings/definitions/no.such", &user).await;
    assert_eq!(envelope(r).await["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_definition_must_be_consistent_and_its_default_must_pass_its_own_rules() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let post = |body: Value| {
        call(
            &app,
            Method::POST,
            "/settings/definitions",
            &admin,
            Some(body),
        )
    };
    let mut d = font_size();
    d["default_value"] = json!(40);
    let details = assert_rule(post(d).await, "default_value", "max").await;
    assert_eq!(details["limit"], 32);
    let mut d = font_size();
    d["default_value"] = json!("14");
    assert_rule(post(d).await, "default_value", "type").await;
    let d = json!({"id": "theme", "name": "Theme", "type": "string", "default_value": "dark",
        "validation": {"pattern": "(unclosed"}});
    assert_rule(post(d).await, "validation.pattern", "pattern").await;
    for (bad, field) in [
        (
            json!({"id": "Bad Id", "name": "x", "type": "string", "default_value": "a"}),
            "id",
        ),
        (
            json!({"id": "b", "name": "x", "type": "colour", "default_value": "a"}),
            "type",
        ),
        (
            json!({"id": "b", "name": "x", "type": "boolean", "default_value": true, "validation": {"max": 3}}),
            "validation.max",
        ),
        (
            json!({"id": "b", "name": "x", "type": "number", "default_value": 1, "allowed_scopes": []}),
            "allowed_scopes",
        ),
    ] {
        let (status, body) = post(bad.clone()).await;
        assert_eq!(
            (status, body["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{bad} -> {body}"
        );
    }
}

#[tokio::test]
async fn each_rule_a_value_fails_is_named() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    define(&app, &admin, font_size()).await;
    define(&app, &admin, json!({"id": "theme", "name": "Theme", "type": "string", "default_value": "dark",
        "allowed_scopes": ["user"], "validation": {"pattern": "^[a-z]+$", "enum": ["dark", "light", "Dark"], "max": 5}})).await;
    define(
        &app,
        &admin,
        json!({"id": "tags", "name": "Tags", "type": "array", "default_value": [],
        "validation": {"max": 2}}),
    )
    .await;
    let value = |id: &str, v: Value| json!({"definition_id": id, "scope": "user", "value": v});
    let d = assert_rule(
        set(&app, &user, value("ui.font_size", json!(33))).await,
        "value",
        "max",
    )
    .await;
    assert_eq!(d["limit"], 32);
    assert_rule(
        set(&app, &user, value("ui.font_size", json!(7.5))).await,
        "value",
        "min",
    )
    .await;
    assert_rule(
        set(&app, &user, value("ui.font_size", json!("big"))).await,
        "value",
        "type",
    )
    .await;
    assert_rule(
        set(&app, &user, value("theme", json!("Dark"))).await,
        "value",
        "pattern",
    )
    .await;
    assert_rule(
        set(&app, &user, value("theme", json!("blue"))).await,
        "value",
        "enum",
    )
    .await;
    assert_rule(
        set(&app, &user, value("theme", json!("darker"))).await,
        "value",
        "max",
    )
    .await;
    assert_rule(
        set(&app, &user, value("tags", json!([1, 2, 3]))).await,
        "value",
        "max",
    )
    .await;
    let page_theme =
        json!({"definition_id": "theme", "scope": "page", "page_id": "home", "value": "light"});
    let d = assert_rule(
        set(&app, &user, page_theme).await,
        "scope",
        "allowed_scopes",
    )
    .await;
    assert_eq!(d["limit"], json!(["user"]));

    let (status, body) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "page", "value": 9}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"]["field"].as_str()),
        (422, Some("page_id"))
    );
    let (status, body) = set(
        &app,
        &user,
        json!({"definition_id": "no.such", "scope": "user", "value": 9}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"]["resource"].as_str()),
        (404, Some("setting definition"))
    );
    let (status, _) = set(&app, &user, value("theme", json!("light"))).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn resolve_answers_page_then_user_then_system_then_the_default() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    define(&app, &admin, font_size()).await;
    let resolve = |page: &'static str| {
        let path = format!("/settings/resolve/ui.font_size{page}");
        let (app, user) = (&app, user.clone());
        async move {
            let r = app.get_json(&path, &user).await;
            (
                r["value"].as_i64().unwrap(),
                r["source"].as_str().unwrap().to_string(),
            )
        }
    };
    assert_eq!(resolve("?page_id=docs").await, (14, "default".into()));
    let (status, body) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "system", "value": 15}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AUTHORIZATION_ERROR"))
    );
    let (status, system) = set(
        &app,
        &admin,
        json!({"definition_id": "ui.font_size", "scope": "system", "value": 15}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(resolve("?page_id=docs").await, (15, "system".into()));
    let (status, mine) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "user", "value": 18}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(resolve("?page_id=docs").await, (18, "user".into()));
    let (status, _) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "page", "page_id": "docs", "value": 22}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(resolve("?page_id=docs").await, (22, "page".into()));
    assert_eq!(resolve("?page_id=home").await, (18, "user".into()));
    assert_eq!(resolve("").await, (18, "user".into()));

    // Setting the same (definition, scope, page) again replaces the value.
    let (status, again) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "user", "value": 19}),
    )
    .await;
    assert_eq!((status, &again["id"]), (200, &mine["id"]));
    // The admin's own resolve sees the system value, not the user's.
    let r = app.get_json("/settings/resolve/ui.font_size", &admin).await;
    assert_eq!(
        (r["value"].as_i64(), r["source"].as_str()),
        (Some(15), Some("system"))
    );
    // A user may read the system value but not change it.
    let path = format!("/settings/instances/{}", system["id"].as_str().unwrap());
    assert_eq!(app.get_json(&path, &user).await["value"], 15);
    let (status, _) = call(&app, Method::PATCH, &path, &user, Some(json!({"value": 9}))).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, Method::DELETE, &path, &user, None).await;
    assert_eq!(status, 403);
    let r = app.get_as("/settings/resolve/no.such", &user).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn instances_are_listed_changed_and_deleted_and_another_users_are_404() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    let other = app.sign_up("bob").await.access;
    define(&app, &admin, font_size()).await;
    let (_, mine) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "user", "value": 10}),
    )
    .await;
    set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "page", "page_id": "a", "value": 11}),
    )
    .await;
    set(
        &app,
        &admin,
        json!({"definition_id": "ui.font_size", "scope": "system", "value": 12}),
    )
    .await;
    let page = app.get_json("/settings/instances", &user).await;
    assert_eq!(page["total"], 3, "mine and the system's: {page}");
    let page = app
        .get_json(
            "/settings/instances?scope=page&definition_id=ui.font_size",
            &user,
        )
        .await;
    assert_eq!(
        (page["total"].as_u64(), page["items"][0]["value"].as_i64()),
        (Some(1), Some(11))
    );
    let page = app
        .get_json("/settings/instances?scope=system", &user)
        .await;
    assert_eq!(
        (page["total"].as_u64(), &page["items"][0]["user_id"]),
        (Some(1), &Value::Null)
    );
    assert_eq!(
        app.get_json("/settings/instances", &other).await["total"],
        1
    );

    let path = format!("/settings/instances/{}", mine["id"].as_str().unwrap());
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"value": 9}))),
        (Method::DELETE, None),
    ] {
        let (status, _) = call(&app, method.clone(), &path, &other, body).await;
        assert_eq!(status, 404, "{method} of another user's value");
    }
    let (status, body) = call(&app, Method::PUT, &path, &user, Some(json!({"value": 99}))).await;
    assert_eq!(
        (status, body["error"]["details"]["rule"].as_str()),
        (422, Some("max"))
    );
    let (status, body) = call(
        &app,
        Method::PATCH,
        &path,
        &user,
        Some(json!({"value": 16})),
    )
    .await;
    assert_eq!((status, body["value"].as_i64()), (200, Some(16)));
    let (status, _) = call(&app, Method::DELETE, &path, &user, None).await;
    assert_eq!(status, 204);
    assert_eq!(app.get_as(&path, &user).await.status(), 404);
}

#[tokio::test]
async fn deleting_a_definition_removes_its_values() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    define(&app, &admin, font_size()).await;
    let (_, mine) = set(
        &app,
        &user,
        json!({"definition_id": "ui.font_size", "scope": "user", "value": 10}),
    )
    .await;
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/settings/definitions/ui.font_size",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let path = format!("/settings/instances/{}", mine["id"].as_str().unwrap());
    assert_eq!(app.get_as(&path, &user).await.status(), 404);
    assert_eq!(app.get_json("/settings/instances", &user).await["total"], 0);
    // Defined again, it starts from its default: the old value is gone.
    define(&app, &admin, font_size()).await;
    let r = app.get_json("/settings/resolve/ui.font_size", &user).await;
    assert_eq!(
        (r["value"].as_i64(), r["source"].as_str()),
        (Some(14), Some("default"))
    );
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/settings/definitions/no.such",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
}
