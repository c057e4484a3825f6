//! Every error, including the framework's own, answers in the envelope.

use axum::Router;
use axum::routing::{get, post};
use chorus::extract::{Json, Path};
use chorus::state::AppState;
use serde_json::{Value, json};

use crate::helpers::{envelope, spawn_app, spawn_app_with};

#[derive(serde::Deserialize, serde::Serialize)]
struct Item {
    name: String,
    count: u32,
}

/// Probe routes mounted only in tests, under the real layers.
fn probes() -> Router<AppState> {
    async fn echo(Json(item): Json<Item>) -> Json<Item> {
        Json(item)
    }
    async fn by_id(Path(id): Path<uuid::Uuid>) -> Json<Value> {
        Json(json!({ "id": id }))
    }
    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }
    Router::new()
        .route("/test/items", post(echo))
        .route("/test/items/{id}", get(by_id))
        .route("/test/panic", get(boom))
        .route("/api/v1/test/items", post(echo))
        .route("/api/v2/test/items", post(echo))
}

#[tokio::test]
async fn an_unknown_route_is_404_in_the_envelope() {
    let app = spawn_app().await;
    let r = app.get("/no/such/route").await;
    assert_eq!(r.status(), 404);
    assert_eq!(envelope(r).await["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_wrong_method_is_405_in_the_envelope() {
    let app = spawn_app().await;
    let r = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(envelope(r).await["error"]["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_shape_is_422_naming_the_field() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let post = |body: &'static str| {
        app.client
            .post(app.url("/test/items"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post("{\"name\": ").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(envelope(r).await["error"]["code"], "BAD_REQUEST");

    let r = post(r#"{"name":"x","count":"many"}"#).await.unwrap();
    assert_eq!(r.status(), 422);
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "count");

    let r = post(r#"{"count":1}"#).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(envelope(r).await["error"]["details"]["field"], "name");

    let r = post(r#"{"name":"x","count":1,"unknown":true}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "unknown fields are ignored");
}

#[tokio::test]
async fn a_body_that_is_not_json_typed_is_415() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let r = app
        .client
        .post(app.url("/test/items"))
        .header("content-type", "text/plain")
        .body(r#"{"name":"x","count":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(envelope(r).await["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_two_mebibyte_body_is_413() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let big = format!(r#"{{"name":"{}","count":1}}"#, "a".repeat(2 << 20));
    let r = app
        .client
        .post(app.url("/test/items"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(envelope(r).await["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_path_parameter_of_the_wrong_type_is_422_naming_it() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let r = app.get("/test/items/not-a-uuid").await;
    assert_eq!(r.status(), 422);
    assert_eq!(envelope(r).await["error"]["details"]["field"], "id");
}

#[tokio::test]
async fn a_panicking_handler_is_500_without_its_internals() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let r = app.get("/test/panic").await;
    assert_eq!(r.status(), 500);
    let text = envelope(r).await.to_string();
    assert!(text.contains("INTERNAL_ERROR"));
    assert!(
        !text.contains("secret internal detail"),
        "panic text leaked: {text}"
    );
    // The server goes on serving.
    assert_eq!(app.get("/live").await.status(), 200);
}

#[tokio::test]
async fn v2_wraps_bodies_and_errors_and_both_carry_version_headers() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let send = |path: &str, body: &'static str| {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("accept-version", "v2")
            .body(body)
            .send()
    };
    let r = send("/api/v2/test/items", r#"{"name":"x","count":2}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-api-version"], "v2");
    assert_eq!(r.headers()["x-api-latest-version"], "v2");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"], json!({"name": "x", "count": 2}));
    assert_eq!(body["meta"]["version"], "v2");
    assert_eq!(body["meta"]["request_id"], id.as_str());
    assert!(body["meta"]["timestamp"].as_str().unwrap().ends_with('Z'));

    let r = send("/api/v2/test/items", "{").await.unwrap();
    let body = envelope(r).await;
    assert_eq!(body["meta"]["version"], "v2");

    // The path wins over Accept-Version.
    let r = send("/api/v1/test/items", r#"{"name":"x","count":2}"#)
        .await
        .unwrap();
    assert_eq!(r.headers()["x-api-version"], "v1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"name": "x", "count": 2}));
}

#[tokio::test]
async fn metrics_label_the_route_template_not_the_raw_path() {
    let app = spawn_app_with(|_| {}, probes()).await;
    let id = uuid::Uuid::now_v7();
    assert_eq!(app.get(&format!("/test/items/{id}")).await.status(), 200);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"route="/test/items/{id}""#),
        "no templated route label in:\n{text}"
    );
    assert!(
        !text.contains(&id.to_string()),
        "a raw path reached the metrics"
    );
    assert!(text.contains("chorus_http_request_duration_seconds_bucket"));
}
