//! Issue 10, items 8, 9, 13, 15 and 16: the abuse paths of sign-in and of
//! the session cookie, each tried from outside against the real server.

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, assert_401, envelope, spawn_app, spawn_app_with};
use crate::oidc::{AUDIENCE, claims, id_token, start_issuer};

/// A server behind a "proxy" on 127.0.0.1, so tests can pose as any client
/// address with `X-Forwarded-For`.
async fn behind_proxy(auth_per_minute: u32) -> TestApp {
    spawn_app_with(
        move |c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
            c.rate_limits.auth = auth_per_minute;
        },
        axum::Router::new(),
    )
    .await
}

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn many_ips_cannot_brute_force_one_account() {
    let app = behind_proxy(1000).await;
    app.register("ada").await;
    app.register("bob").await;
    for i in 0..10 {
        let r = login_from(
            &app,
            &format!("198.51.100.{i}"),
            "ada@example.com",
            "guess-{i}",
        )
        .await;
        assert_eq!(r.status(), 401, "guess {i}");
    }
    // The right password, from an address never seen before: the account is locked.
    let r = login_from(&app, "203.0.113.50", "ada@example.com", "password-ada").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    assert_eq!(envelope(r).await["error"]["code"], "RATE_LIMIT_EXCEEDED");
    // Other accounts are not affected.
    let r = login_from(&app, "198.51.100.1", "bob@example.com", "password-bob").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // Trusted peer: each forwarded client has its own bucket and is recorded.
    let app = behind_proxy(2).await;
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let r = login_from(
            &app,
            &format!("6.6.6.6, {ip}"),
            "x@example.com",
            "whatever1",
        )
        .await;
        assert_eq!(r.status(), 401, "{ip} has a bucket of its own");
    }
    app.register("ada").await;
    let r = login_from(&app, "192.0.2.44", "ada@example.com", "password-ada").await;
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions = app.get_json("/auth/sessions", &token).await;
    assert_eq!(sessions[0]["ip"], "192.0.2.44");

    // No trusted proxy: the header is the client's own claim and is ignored.
    let app = spawn_app_with(|c| c.rate_limits.auth = 2, axum::Router::new()).await;
    let mut statuses = Vec::new();
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        statuses.push(
            login_from(&app, ip, "x@example.com", "whatever1")
                .await
                .status(),
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 429],
        "X-Forwarded-For dodged the limit"
    );
}

#[tokio::test]
async fn an_ipv6_client_cannot_dodge_the_auth_limit_by_changing_address_in_its_64() {
    let app = behind_proxy(2).await;
    let mut statuses = Vec::new();
    for host in 1..=3 {
        let ip = format!("2001:db8:0:7::{host}");
        statuses.push(
            login_from(&app, &ip, "x@example.com", "whatever1")
                .await
                .status(),
        );
    }
    assert_eq!(statuses, [401, 401, 429]);
    let next_net = login_from(&app, "2001:db8:0:8::1", "x@example.com", "whatever1").await;
    assert_eq!(next_net.status(), 401);
}

#[tokio::test]
async fn password_changes_are_in_the_auth_rate_class() {
    let app = spawn_app_with(|c| c.rate_limits.auth = 3, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let change = || {
        app.send(
            Method::PUT,
            "/auth/profile/password",
            Some(&ada.access),
            Some(json!({"current_password": "not-it-at-all", "new_password": "new-password-1"})),
        )
    };
    for _ in 0..3 {
        let r = change().await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    }
    assert_eq!(change().await.status(), 429);
}

async fn oidc_app(issuers: &[&str]) -> TestApp {
    let issuers: Vec<_> = issuers
        .iter()
        .map(|url| chorus::config::OidcIssuer {
            issuer: url.to_string(),
            audience: AUDIENCE.into(),
            jwks_url: format!("{url}/jwks"),
        })
        .collect();
    spawn_app_with(move |c| c.auth.oidc_issuers = issuers, axum::Router::new()).await
}

#[tokio::test]
async fn another_issuer_or_subject_with_the_same_email_cannot_sign_into_an_oidc_account() {
    let (google, other) = (start_issuer().await, start_issuer().await);
    let app = oidc_app(&[&google.url, &other.url]).await;
    let login = |token: String| app.post_json("/auth/oidc", None, json!({ "id_token": token }));

    let first = login(id_token(&google.key, claims(&google.url, AUDIENCE, 300))).await;
    assert_eq!(first.status(), 200);
    let owner = first.json::<Value>().await.unwrap()["user"]["id"].clone();

    // Same email, asserted by another configured issuer.
    let foreign = id_token(&other.key, claims(&other.url, AUDIENCE, 300));
    assert_401(login(foreign).await, "invalid").await;
    // Same email and issuer, another subject.
    let mut impostor = claims(&google.url, AUDIENCE, 300);
    impostor["sub"] = json!("someone-else");
    assert_401(login(id_token(&google.key, impostor)).await, "invalid").await;

    // The bound identity still signs in, even under a changed email.
    let mut moved = claims(&google.url, AUDIENCE, 300);
    moved["email"] = json!("grace@new.example.com");
    let again = login(id_token(&google.key, moved)).await;
    assert_eq!(again.json::<Value>().await.unwrap()["user"]["id"], owner);
}

/// Signs `name` up and returns the access cookie the login set, as `name=value`.
async fn access_cookie(app: &TestApp, name: &str) -> String {
    app.register(name).await;
    let r = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": format!("{name}@example.com"), "password": format!("password-{name}")}),
        )
        .await;
    set_cookies(&r)
        .into_iter()
        .find(|c| c.contains("chorus_access="))
        .and_then(|c| c.split(';').next().map(str::to_string))
        .unwrap()
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_cross_site_page_cannot_use_the_session_cookie() {
    let app = spawn_app_with(
        |c| c.server.allowed_origins = vec!["https://app.example.com".into()],
        axum::Router::new(),
    )
    .await;
    let cookie = access_cookie(&app, "ada").await;
    let own = format!("http://{}", app.addr);
    let post_tag = |origin: &str, n: u32| {
        app.client
            .post(app.url("/api/v1/tags"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({ "name": format!("t{n}") }))
            .send()
    };
    let r = post_tag("https://evil.example", 1).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
    assert_eq!(post_tag(&own, 2).await.unwrap().status(), 201);
    assert_eq!(
        post_tag("https://app.example.com", 3)
            .await
            .unwrap()
            .status(),
        201
    );
    let cross_site = app
        .client
        .delete(app.url("/api/v1/tags/00000000-0000-7000-8000-000000000000"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);

    // A bearer token is never sent by a browser on its own: not checked.
    let ada = app.login("ada").await;
    let r = app
        .client
        .post(app.url("/api/v1/tags"))
        .bearer_auth(&ada.access)
        .header("origin", "https://evil.example")
        .json(&json!({ "name": "t4" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The WebSocket upgrade is checked the same way.
    let ws = |origin: String| {
        let mut req = format!("ws://{}/api/v1/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    match ws("https://evil.example".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("a cross-site socket opened: {:?}", other.map(|(_, r)| r)),
    }
    let (mut socket, _) = ws(own).await.expect("a same-origin socket opens");
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn secure_cookies_are_host_prefixed_and_the_refresh_cookie_stays_on_auth_routes() {
    let app = spawn_app_with(|c| c.server.secure_cookies = true, axum::Router::new()).await;
    app.register("ada").await;
    let r = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "password-ada"}),
        )
        .await;
    let cookies = set_cookies(&r);
    let access = cookies
        .iter()
        .find(|c| c.starts_with("__Host-chorus_access="))
        .unwrap();
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("__Secure-chorus_refresh="))
        .unwrap();
    assert!(
        access.contains("Path=/;") && access.contains("Secure"),
        "{access}"
    );
    assert!(
        refresh.contains("Path=/api/v1/auth;") && refresh.contains("Secure"),
        "{refresh}"
    );

    let pair = |c: &str| c.split(';').next().unwrap().to_string();
    let me = |cookie: String| {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(me(pair(access)).await.unwrap().status(), 200);
    // An unprefixed cookie (one a sibling subdomain could plant) is not read.
    let planted = pair(access).replace("__Host-chorus_access", "chorus_access");
    assert_eq!(me(planted).await.unwrap().status(), 401);
    let refreshed = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", pair(refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let app = spawn_app_with(
        |c| c.metrics.token = Some("scrape-secret".into()),
        axum::Router::new(),
    )
    .await;
    assert_401(app.get("/metrics").await, "missing").await;
    let scrape = |token: &'static str| {
        app.client
            .get(app.url("/metrics"))
            .bearer_auth(token)
            .send()
    };
    assert_401(scrape("scrape-secreT").await.unwrap(), "invalid").await;
    assert_eq!(scrape("scrape-secret").await.unwrap().status(), 200);
}

#[tokio::test]
async fn profile_and_admin_inputs_out_of_range_are_422() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let app = &app;
    let patch = |path: String, token: String, body: Value| async move {
        app.send(Method::PATCH, &path, Some(&token), Some(body))
            .await
    };
    for url in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "//evil.example/x.png",
    ] {
        let r = patch(
            "/users/me".into(),
            ada.access.clone(),
            json!({"avatar_url": url}),
        )
        .await;
        assert_eq!(r.status(), 422, "{url}");
        assert_eq!(envelope(r).await["error"]["details"]["field"], "avatar_url");
    }
    let ok = patch(
        "/users/me".into(),
        ada.access.clone(),
        json!({"avatar_url": "https://x.io/a.png"}),
    );
    assert_eq!(ok.await.status(), 200);
    let huge = json!({"monthly_token_allowance": 9_223_372_036_854_775_808u64});
    let r = patch(
        format!("/admin/users/{}", ada.user_id),
        root.access.clone(),
        huge,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        envelope(r).await["error"]["details"]["field"],
        "monthly_token_allowance"
    );
}

#[tokio::test]
async fn a_password_change_revokes_api_keys_unless_asked_to_keep_them() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let new_key = || async {
        let r = app
            .post_json("/api-keys", Some(&ada.access), json!({"name": "ci"}))
            .await;
        r.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let change = |from: &str, to: &str, keep: bool| {
        let body = json!({"current_password": from, "new_password": to, "keep_api_keys": keep});
        app.send(
            Method::PUT,
            "/auth/profile/password",
            Some(&ada.access),
            Some(body),
        )
    };
    let key = new_key().await;
    assert_eq!(
        change("password-ada", "password-two", false).await.status(),
        204
    );
    assert_401(app.get_as("/auth/me", &key).await, "invalid").await;
    let kept = new_key().await;
    assert_eq!(
        change("password-two", "password-three", true)
            .await
            .status(),
        204
    );
    assert_eq!(app.get_as("/auth/me", &kept).await.status(), 200);
}

#[tokio::test]
async fn the_data_dir_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = dir.clone();
    let app = spawn_app_with(
        move |c| {
            c.store.data_dir = c.store.data_dir.join("fresh");
            *seen.lock().unwrap() = Some(c.store.data_dir.clone());
        },
        axum::Router::new(),
    )
    .await;
    let path = dir.lock().unwrap().clone().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
    app.stop().await;
}

#[test]
fn secrets_never_show_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path());
    config.webhooks.url = "https://hooks.example.com".into();
    config.webhooks.secret = Some("webhook-signing-secret".into());
    config.metrics.token = Some("metrics-bearer-secret".into());
    let echo = config.providers.get_mut("echo").unwrap();
    echo.api_key = Some("sk-provider-secret".into());
    let shown = format!("{config:?} {:?}", chorus::core_config(&config));
    for secret in [
        "webhook-signing-secret",
        "metrics-bearer-secret",
        "sk-provider-secret",
    ] {
        assert!(!shown.contains(secret), "{secret} is in Debug output");
    }
}
