//! Plugin state (API.md 8): CRUD, uniqueness, size limit, expiry (reads,
//! cleanup, the background sweeper), bulk all-or-nothing and stats.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, eventually, spawn_app, spawn_app_with};

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/plugin-state", token, Some(body)).await
}

/// An RFC 3339 time `ms` milliseconds from now.
fn in_ms(ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(ms)).to_rfc3339()
}

#[tokio::test]
async fn a_state_is_created_read_listed_changed_and_deleted_by_its_owner_only() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await.access;
    let bob = app.sign_up("bob").await.access;
    let (status, s) = create(
        &app,
        &ada,
        json!({"plugin_id": "notes", "page_id": "docs", "state_key": "draft",
        "state_strategy": "session", "state_data": {"text": "hi"}}),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(
        (s["state_strategy"].as_str(), &s["state_data"]),
        (Some("session"), &json!({"text": "hi"}))
    );
    create(&app, &ada, json!({"plugin_id": "notes", "state_data": {}})).await;
    create(&app, &ada, json!({"plugin_id": "todo", "page_id": "docs"})).await;
    let path = format!("/plugin-state/{}", s["id"].as_str().unwrap());
    assert_eq!(app.get_json(&path, &ada).await["state_key"], "draft");

    let all = app.get_json("/plugin-state", &ada).await;
    assert_eq!(all["total"], 3);
    assert_eq!(
        app.get_json("/plugin-state?plugin_id=notes", &ada).await["total"],
        2
    );
    let on_docs = app
        .get_json("/plugin-state?plugin_id=notes&page_id=docs", &ada)
        .await;
    assert_eq!(
        (on_docs["total"].as_u64(), &on_docs["items"][0]["id"]),
        (Some(1), &s["id"])
    );
    assert_eq!(
        app.get_json("/plugin-state?page_id=docs", &ada).await["total"],
        2
    );
    assert_eq!(app.get_json("/plugin-state", &bob).await["total"], 0);

    for (method, body) in [
        (Method::GET, None),
        (
            Method::PUT,
            Some(json!({"plugin_id": "notes", "state_data": {}})),
        ),
        (Method::PATCH, Some(json!({"state_data": {}}))),
        (Method::DELETE, None),
    ] {
        let (status, _) = call(&app, method.clone(), &path, &bob, body).await;
        assert_eq!(status, 404, "{method} of another user's state");
    }
    let (status, patched) = call(
        &app,
        Method::PATCH,
        &path,
        &ada,
        Some(json!({"state_data": {"text": "bye"}, "state_key": null})),
    )
    .await;
    assert_eq!(
        (
            status,
            &patched["state_data"]["text"],
            &patched["state_key"]
        ),
        (200, &json!("bye"), &Value::Null)
    );
    assert_eq!(patched["page_id"], "docs", "untouched fields stay");
    // Moving it onto another state's plugin, page and key is a conflict.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        &ada,
        Some(json!({"page_id": null})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, put) = call(
        &app,
        Method::PUT,
        &path,
        &ada,
        Some(json!({"plugin_id": "other", "state_data": {"v": 2}})),
    )
    .await;
    assert_eq!(
        (
            status,
            put["plugin_id"].as_str(),
            &put["page_id"],
            &put["id"]
        ),
        (200, Some("other"), &Value::Null, &s["id"])
    );
    let (status, _) = call(&app, Method::DELETE, &path, &ada, None).await;
    assert_eq!(status, 204);
    assert_eq!(app.get_as(&path, &ada).await.status(), 404);
}

#[tokio::test]
async fn a_duplicate_is_409_and_oversize_state_data_is_413() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await.access;
    let body = json!({"plugin_id": "notes", "page_id": "p", "state_key": "k", "state_data": {}});
    assert_eq!(create(&app, &ada, body.clone()).await.0, 201);
    let (status, dup) = create(&app, &ada, body).await;
    assert_eq!(
        (status, dup["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    // Another key, page or user is another state.
    assert_eq!(
        create(
            &app,
            &ada,
            json!({"plugin_id": "notes", "page_id": "p", "state_data": {}})
        )
        .await
        .0,
        201
    );
    let bob = app.sign_up("bob").await.access;
    assert_eq!(
        create(
            &app,
            &bob,
            json!({"plugin_id": "notes", "page_id": "p", "state_key": "k"})
        )
        .await
        .0,
        201
    );

    let big = "x".repeat(256 * 1024);
    let (status, body) = create(
        &app,
        &ada,
        json!({"plugin_id": "big", "state_data": {"blob": big}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(body["error"]["details"]["limit"], 262144);
    let fits = "x".repeat(256 * 1024 - 20);
    assert_eq!(
        create(
            &app,
            &ada,
            json!({"plugin_id": "big", "state_data": {"blob": fits}})
        )
        .await
        .0,
        201
    );
    for (bad, field) in [
        (json!({"plugin_id": "a b"}), "plugin_id"),
        (json!({"plugin_id": "a", "state_data": [1]}), "state_data"),
        (
            json!({"plugin_id": "a", "ttl_expires_at": in_ms(-1000)}),
            "ttl_expires_at",
        ),
        (
            json!({"plugin_id": "a", "state_strategy": "forever"}),
            "state_strategy",
        ),
    ] {
        let (status, body) = create(&app, &ada, bad.clone()).await;
        assert_eq!(
            (status, body["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_expired_state_is_invisible_and_cleanup_deletes_it() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await.access;
    let (_, short) = create(
        &app,
        &ada,
        json!({"plugin_id": "p", "state_key": "a", "ttl_expires_at": in_ms(1_500)}),
    )
    .await;
    create(
        &app,
        &ada,
        json!({"plugin_id": "p", "state_key": "b", "ttl_expires_at": in_ms(1_500)}),
    )
    .await;
    create(
        &app,
        &ada,
        json!({"plugin_id": "p", "state_key": "c", "ttl_expires_at": in_ms(3_600_000)}),
    )
    .await;
    let path = format!("/plugin-state/{}", short["id"].as_str().unwrap());
    assert_eq!(app.get_as(&path, &ada).await.status(), 200);
    eventually("the state to expire", || async {
        (app.get_as(&path, &ada).await.status() == 404).then_some(())
    })
    .await;
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        &ada,
        Some(json!({"state_data": {}})),
    )
    .await;
    assert_eq!(status, 404, "an expired state cannot be changed");
    // b was made a moment after a: wait until it has expired too.
    let list = eventually("b to expire as well", || async {
        let list = app.get_json("/plugin-state", &ada).await;
        (list["total"].as_u64() == Some(1)).then_some(list)
    })
    .await;
    assert_eq!(list["items"][0]["state_key"].as_str(), Some("c"));
    assert_eq!(
        app.get_json("/plugin-state/stats", &ada).await["total_states"],
        1
    );
    // The key of an expired state is free again.
    let (status, again) = create(&app, &ada, json!({"plugin_id": "p", "state_key": "a"})).await;
    assert_eq!(status, 201, "{again}");

    let (status, done) = call(&app, Method::DELETE, "/plugin-state/cleanup", &ada, None).await;
    assert_eq!(
        (status, done["deleted"].as_u64()),
        (200, Some(1)),
        "b was left to delete"
    );
    let (_, done) = call(&app, Method::DELETE, "/plugin-state/cleanup", &ada, None).await;
    assert_eq!(done["deleted"], 0);
    assert_eq!(app.get_json("/plugin-state", &ada).await["total"], 2);
}

#[tokio::test]
async fn the_sweeper_deletes_expired_states_of_every_user() {
    let app = spawn_app_with(
        |c| {
            c.plugin_state.sweep_every_ms = 50;
            c.limits.max_plugin_states_per_user = 1;
        },
        axum::Router::new(),
    )
    .await;
    let _watcher = app.sign_up("root").await;
    let ada = app.sign_up("ada").await.access;
    let (status, _) = create(
        &app,
        &ada,
        json!({"plugin_id": "p", "state_key": "old", "ttl_expires_at": in_ms(200)}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = create(&app, &ada, json!({"plugin_id": "p", "state_key": "new"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("QUOTA_EXCEEDED")),
        "the cap is 1"
    );
    // Ada does nothing more: once the sweeper has deleted her expired
    // state, her place under the cap is free.
    eventually("the sweeper to free the place", || async {
        let (status, _) = create(&app, &ada, json!({"plugin_id": "p", "state_key": "new"})).await;
        (status == 201).then_some(())
    })
    .await;
    let (_, done) = call(&app, Method::DELETE, "/plugin-state/cleanup", &ada, None).await;
    assert_eq!(done["deleted"], 0, "nothing was left for cleanup");
}

#[tokio::test]
async fn a_bulk_create_writes_every_item_or_none() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await.access;
    create(&app, &ada, json!({"plugin_id": "p", "state_key": "taken"})).await;
    let bulk = |items: Value| {
        call(
            &app,
            Method::POST,
            "/plugin-state/bulk",
            &ada,
            Some(json!({ "items": items })),
        )
    };
    let (status, body) = bulk(json!([
        {"plugin_id": "p", "state_key": "one"},
        {"plugin_id": "bad id"},
        {"plugin_id": "p", "state_key": "three", "state_data": {"blob": "x".repeat(256 * 1024)}},
        {"plugin_id": "p", "state_key": "four"},
    ]))
    .await;
    assert_eq!(status, 422, "{body}");
    let errors = body["error"]["details"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["index"].as_u64(), errors[0]["code"].as_str()),
        (Some(1), Some("VALIDATION_ERROR"))
    );
    assert_eq!(errors[0]["details"]["field"], "plugin_id");
    assert_eq!(
        (errors[1]["index"].as_u64(), errors[1]["code"].as_str()),
        (Some(2), Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(
        app.get_json("/plugin-state", &ada).await["total"],
        1,
        "nothing was written"
    );

    let (status, body) = bulk(json!([
        {"plugin_id": "p", "state_key": "one"},
        {"plugin_id": "p", "state_key": "taken"},
        {"plugin_id": "p", "state_key": "one"},
    ]))
    .await;
    assert_eq!(status, 409, "{body}");
    let indexes: Vec<u64> = body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2]);
    assert_eq!(
        app.get_json("/plugin-state", &ada).await["total"],
        1,
        "nothing was written"
    );

    let many: Vec<Value> = (0..101)
        .map(|i| json!({"plugin_id": "p", "state_key": format!("k{i}")}))
        .collect();
    let (status, body) = bulk(json!(many)).await;
    assert_eq!(
        (status, body["error"]["details"]["rule"].as_str()),
        (422, Some("max"))
    );

    let (status, body) = bulk(
        json!([{"plugin_id": "p", "state_key": "one"}, {"plugin_id": "q", "state_data": {"a": 1}}]),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.get_json("/plugin-state", &ada).await["total"], 3);
}

#[tokio::test]
async fn stats_count_states_and_bytes_per_plugin_for_the_caller() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await.access;
    let bob = app.sign_up("bob").await.access;
    create(
        &app,
        &ada,
        json!({"plugin_id": "notes", "state_key": "a", "state_data": {"t": "hello"}}),
    )
    .await;
    create(&app, &ada, json!({"plugin_id": "notes", "state_key": "b"})).await;
    create(
        &app,
        &ada,
        json!({"plugin_id": "todo", "state_data": {"items": [1, 2]}}),
    )
    .await;
    create(
        &app,
        &bob,
        json!({"plugin_id": "notes", "state_data": {"x": 1}}),
    )
    .await;
    let stats = app.get_json("/plugin-state/stats", &ada).await;
    let hello = r#"{"t":"hello"}"#.len() as u64;
    let items = r#"{"items":[1,2]}"#.len() as u64;
    assert_eq!(
        stats,
        json!({"total_states": 3, "total_bytes": hello + 2 + items, "plugins": [
            {"plugin_id": "notes", "states": 2, "bytes": hello + 2},
            {"plugin_id": "todo", "states": 1, "bytes": items},
        ]})
    );
}
