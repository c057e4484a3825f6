//! Rate limits (API.md 0.3).

use serde_json::json;

use crate::helpers::{envelope, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_auth_class_limits_per_ip_with_headers_and_retry_after() {
    let app = spawn_app_with(|c| c.rate_limits.auth = 3, axum::Router::new()).await;
    let attempt = || {
        app.post_json(
            "/auth/login",
            None,
            json!({"email": "x@example.com", "password": "whatever1"}),
        )
    };
    for left in (0..3).rev() {
        let r = attempt().await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["x-ratelimit-limit"], "3");
        assert_eq!(
            r.headers()["x-ratelimit-remaining"],
            left.to_string().as_str()
        );
        let reset: u64 = r.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset >= chrono::Utc::now().timestamp() as u64);
    }
    let r = attempt().await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(body["error"]["details"]["retry_after"], retry);
}

#[tokio::test]
async fn the_default_class_limits_each_user_separately() {
    let app = spawn_app_with(|c| c.rate_limits.default = 2, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    assert_eq!(app.get_as("/auth/me", &ada.access).await.status(), 200);
    assert_eq!(app.get_as("/auth/me", &ada.access).await.status(), 200);
    assert_eq!(app.get_as("/auth/me", &ada.access).await.status(), 429);
    let r = app.get_as("/auth/me", &bob.access).await;
    assert_eq!(r.status(), 200, "bob has his own bucket");
    assert_eq!(r.headers()["x-ratelimit-limit"], "2");
}

#[tokio::test]
async fn operational_routes_are_not_limited() {
    let app = spawn_app().await;
    let r = app.get("/live").await;
    assert!(r.headers().get("x-ratelimit-limit").is_none());
}
