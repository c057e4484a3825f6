//! Accounts and sessions (API.md 2.1, 2.2).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_401, envelope, spawn_app};

#[tokio::test]
async fn the_first_account_is_superadmin_and_later_ones_are_users() {
    let app = spawn_app().await;
    let first = app.register("first").await;
    assert_eq!(first["role"], "superadmin");
    assert!(first.get("password_hash").is_none() && first.get("password").is_none());
    let second = app.register("second").await;
    assert_eq!(second["role"], "user");
    assert_eq!(second["email"], "second@example.com");
    assert!(second["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn duplicate_email_or_username_is_409() {
    let app = spawn_app().await;
    app.register("ada").await;
    for body in [
        json!({"username": "other", "email": "ADA@example.com", "password": "long enough"}),
        json!({"username": "ada", "email": "new@example.com", "password": "long enough"}),
    ] {
        let r = app.post_json("/auth/register", None, body).await;
        assert_eq!(r.status(), 409);
        assert_eq!(envelope(r).await["error"]["code"], "CONFLICT");
    }
}

#[tokio::test]
async fn bad_registration_input_is_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "x", "email": "a@b.io", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "Ada!", "email": "a@b.io", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "ada", "email": "not-an-email", "password": "long enough"}),
            "email",
        ),
        (
            json!({"username": "ada", "email": "a@b.io", "password": "short"}),
            "password",
        ),
        (json!({"username": "ada", "email": "a@b.io"}), "password"),
    ];
    for (body, field) in cases {
        let r = app.post_json("/auth/register", None, body).await;
        assert_eq!(r.status(), 422, "{field}");
        assert_eq!(envelope(r).await["error"]["details"]["field"], field);
    }
}

#[tokio::test]
async fn login_sets_http_only_cookies_and_the_cookie_authenticates() {
    let app = spawn_app().await;
    app.register("ada").await;
    let r = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "password-ada"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 2);
    for c in &cookies {
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
            "{c}"
        );
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let access = cookies
        .iter()
        .find(|c| c.starts_with("chorus_access="))
        .unwrap();
    let cookie = access.split(';').next().unwrap();
    let me = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "ada");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ada").await;
    let wrong_pw = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "not her password"}),
        )
        .await;
    let no_user = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "not her password"}),
        )
        .await;
    assert_eq!(wrong_pw.status(), 401);
    assert_eq!(no_user.status(), 401);
    let (a, b) = (envelope(wrong_pw).await, envelope(no_user).await);
    assert_eq!(a["error"]["message"], b["error"]["message"]);
}

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_revokes_the_session() {
    let app = spawn_app().await;
    let s = app.sign_up("ada").await;
    let r = app
        .post_json("/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_string();
    let new_access = rotated["access_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, s.refresh);
    assert_eq!(app.get_as("/auth/me", &new_access).await.status(), 200);

    // The old refresh token is spent: presenting it again revokes everything.
    let reuse = app
        .post_json("/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await;
    assert_401(reuse, "revoked").await;
    assert_401(app.get_as("/auth/me", &new_access).await, "revoked").await;
    let after = app
        .post_json("/auth/refresh", None, json!({"refresh_token": new_refresh}))
        .await;
    assert_eq!(after.status(), 401, "the family's newest token dies too");
}

#[tokio::test]
async fn a_refresh_token_works_from_the_cookie_too() {
    let app = spawn_app().await;
    let s = app.sign_up("ada").await;
    let refresh_by_cookie = |token: &str| {
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", format!("chorus_refresh={token}"))
            .send()
    };
    let r = refresh_by_cookie(&s.refresh).await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.strip_prefix("chorus_refresh="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .next()
        .expect("a new chorus_refresh cookie");
    let rotated: Value = r.json().await.unwrap();
    let (new_refresh, new_access) = (
        rotated["refresh_token"].as_str().unwrap().to_string(),
        rotated["access_token"].as_str().unwrap().to_string(),
    );
    assert_ne!(new_refresh, s.refresh, "a new refresh token came back");
    assert_eq!(cookie, new_refresh, "and the cookie holds it");
    assert_eq!(app.get_as("/auth/me", &new_access).await.status(), 200);

    // The old one is spent: presented again (by cookie), it revokes the session.
    assert_401(refresh_by_cookie(&s.refresh).await.unwrap(), "revoked").await;
    assert_401(app.get_as("/auth/me", &new_access).await, "revoked").await;

    let garbage = app
        .post_json("/auth/refresh", None, json!({"refresh_token": "nonsense"}))
        .await;
    assert_401(garbage, "invalid").await;
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_once() {
    let app = spawn_app().await;
    let s = app.sign_up("ada").await;
    let r = app
        .post_json("/auth/logout", Some(&s.access), json!({}))
        .await;
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    assert_401(app.get_as("/auth/me", &s.access).await, "revoked").await;
    let refresh = app
        .post_json("/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await;
    assert_eq!(refresh.status(), 401);
}

#[tokio::test]
async fn missing_and_malformed_credentials_are_401_with_a_reason() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_401(r, "missing").await;
    assert_401(app.get_as("/auth/me", "not.a.jwt").await, "invalid").await;
    assert_401(app.get_as("/auth/me", "ck_not_a_key").await, "invalid").await;
}

#[tokio::test]
async fn sessions_are_listed_and_another_users_session_is_404() {
    let app = spawn_app().await;
    let a1 = app.sign_up("ada").await;
    let a2 = app.login("ada").await;
    let bob = app.sign_up("bob").await;

    let list: Value = app
        .get_as("/auth/sessions", &a1.access)
        .await
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let bobs: Value = app
        .get_as("/auth/sessions", &bob.access)
        .await
        .json()
        .await
        .unwrap();
    let bob_sid = bobs[0]["id"].as_str().unwrap();

    let r = app
        .send(
            Method::DELETE,
            &format!("/auth/sessions/{bob_sid}"),
            Some(&a1.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        app.get_as("/auth/me", &bob.access).await.status(),
        200,
        "bob is untouched"
    );

    // Revoking her other session cuts that session's access token at once.
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap();
    let r = app
        .send(
            Method::DELETE,
            &format!("/auth/sessions/{other}"),
            Some(&a1.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_401(app.get_as("/auth/me", &a2.access).await, "revoked").await;
    assert_eq!(app.get_as("/auth/me", &a1.access).await.status(), 200);
}

#[tokio::test]
async fn a_password_change_revokes_the_other_sessions_but_not_this_one() {
    let app = spawn_app().await;
    let here = app.sign_up("ada").await;
    let elsewhere = app.login("ada").await;
    let wrong = app
        .send(
            Method::PUT,
            "/auth/profile/password",
            Some(&here.access),
            Some(json!({"current_password": "nope nope", "new_password": "a new password"})),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let r = app
        .send(
            Method::PUT,
            "/auth/profile/password",
            Some(&here.access),
            Some(json!({"current_password": "password-ada", "new_password": "a new password"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get_as("/auth/me", &here.access).await.status(), 200);
    assert_401(app.get_as("/auth/me", &elsewhere.access).await, "revoked").await;
    let old = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "password-ada"}),
        )
        .await;
    assert_eq!(old.status(), 401);
    let new = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "a new password"}),
        )
        .await;
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn the_username_changes_unless_taken() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    app.register("bob").await;
    let taken = app
        .send(
            Method::PUT,
            "/auth/profile/username",
            Some(&ada.access),
            Some(json!({"username": "bob"})),
        )
        .await;
    assert_eq!(taken.status(), 409);
    let bad = app
        .send(
            Method::PUT,
            "/auth/profile/username",
            Some(&ada.access),
            Some(json!({"username": "B O B"})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let ok = app
        .send(
            Method::PUT,
            "/auth/profile/username",
            Some(&ada.access),
            Some(json!({"username": "ada2"})),
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["username"], "ada2");
    // The old name is free again.
    let r = app
        .post_json(
            "/auth/register",
            None,
            json!({"username": "ada", "email": "new-ada@example.com", "password": "long enough"}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn the_profile_and_usage_of_me() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let r = app
        .send(
            Method::PATCH,
            "/users/me",
            Some(&ada.access),
            Some(json!({"full_name": "Ada Lovelace", "avatar_url": "https://example.com/a.png"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = app
        .get_as("/users/me", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["full_name"], "Ada Lovelace");
    assert_eq!(me["usage"]["total_tokens"], 0);
    assert!(
        me["usage"]["period"]["start"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z")
    );
    let long = app
        .send(
            Method::PATCH,
            "/users/me",
            Some(&ada.access),
            Some(json!({"full_name": "x".repeat(300)})),
        )
        .await;
    assert_eq!(long.status(), 422);
}
