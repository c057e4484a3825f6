//! Operations routes, request ids and security headers.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn live_health_and_ready_answer_on_a_fresh_data_dir() {
    let app = spawn_app().await;
    let live: Value = app.get("/live").await.json().await.unwrap();
    assert_eq!(live["status"], "live");
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["uptime_s"].is_u64() && health["active_jobs"].is_u64());
    let r = app.get("/ready").await;
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn version_names_the_build() {
    let app = spawn_app().await;
    let v: Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(v["name"], "chorus");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let sha = v["git_sha"].as_str().unwrap();
    assert!(
        sha == "unknown" || sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{sha}"
    );
}

#[tokio::test]
async fn a_good_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/live"))
        .header("x-request-id", "client.id_42-x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "client.id_42-x");

    for bad in ["has spaces", "semi;colon", &"a".repeat(129)] {
        let r = app
            .client
            .get(app.url("/live"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "replacement {id} is not a UUID"
        );
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/live", "/nowhere"] {
        let r = app.get(path).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        assert!(r.headers().get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn hsts_is_sent_behind_a_tls_proxy() {
    let app =
        crate::helpers::spawn_app_with(|c| c.server.tls_behind_proxy = true, axum::Router::new())
            .await;
    let r = app.get("/live").await;
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes_and_the_docs_page_is_self_contained() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/health", "/live", "/ready", "/version", "/metrics"] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "not the docs page");
    assert!(
        !html.contains("https://"),
        "the docs page loads something from the internet"
    );
    let js = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), 200, "docs assets are embedded");
    assert!(js.bytes().await.unwrap().len() > 100_000);
}
