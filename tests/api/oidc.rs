//! OIDC login against a local JWKS server with a key pair made by the test.

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};

use crate::helpers::{assert_401, spawn_app_with};

pub const AUDIENCE: &str = "chorus-test-client";

pub struct Issuer {
    pub url: String,
    pub key: EncodingKey,
    other_key: EncodingKey,
}

fn p256_key() -> p256::SecretKey {
    loop {
        let bytes: [u8; 32] = rand::random();
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn encoding(key: &p256::SecretKey) -> EncodingKey {
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
}

/// Serves a JWKS holding one freshly made P-256 key.
pub async fn start_issuer() -> Issuer {
    let key = p256_key();
    let mut jwk: Value = serde_json::from_str(&key.public_key().to_jwk_string()).unwrap();
    jwk["kid"] = json!("test-key");
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let jwks = json!({ "keys": [jwk] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/jwks", get(move || async move { axum::Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Issuer {
        url,
        key: encoding(&key),
        other_key: encoding(&p256_key()),
    }
}

pub fn id_token(key: &EncodingKey, claims: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-key".into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

pub fn claims(issuer: &str, audience: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": issuer, "aud": audience, "sub": "user-123",
        "email": "Grace.Hopper@example.com", "email_verified": true, "name": "Grace Hopper",
        "iat": now, "nbf": now - 5, "exp": now + exp_offset,
    })
}

#[tokio::test]
async fn an_oidc_id_token_logs_in_and_a_bad_one_is_401() {
    let issuer = start_issuer().await;
    let config_issuer = chorus::config::OidcIssuer {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        jwks_url: format!("{}/jwks", issuer.url),
    };
    let app = spawn_app_with(
        move |c| c.auth.oidc_issuers = vec![config_issuer],
        Router::new(),
    )
    .await;
    let login = |token: String| app.post_json("/auth/oidc", None, json!({ "id_token": token }));

    let good = id_token(&issuer.key, claims(&issuer.url, AUDIENCE, 300));
    let r = login(good.clone()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "grace.hopper@example.com");
    assert_eq!(body["user"]["username"], "gracehopper");
    assert_eq!(body["user"]["full_name"], "Grace Hopper");
    let me: Value = app
        .get_as("/auth/me", body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], body["user"]["id"]);

    // A second login finds the same account.
    let again: Value = login(good).await.json().await.unwrap();
    assert_eq!(again["user"]["id"], body["user"]["id"]);

    let wrong_audience = id_token(&issuer.key, claims(&issuer.url, "someone-else", 300));
    assert_401(login(wrong_audience).await, "invalid").await;
    let wrong_issuer = id_token(
        &issuer.key,
        claims("https://evil.example.com", AUDIENCE, 300),
    );
    assert_401(login(wrong_issuer).await, "invalid").await;
    let wrong_key = id_token(&issuer.other_key, claims(&issuer.url, AUDIENCE, 300));
    assert_401(login(wrong_key).await, "invalid").await;
    let expired = id_token(&issuer.key, claims(&issuer.url, AUDIENCE, -3600));
    assert_401(login(expired).await, "invalid").await;
    assert_401(login("garbage".into()).await, "invalid").await;

    let mut unverified = claims(&issuer.url, AUDIENCE, 300);
    unverified.as_object_mut().unwrap().remove("email_verified");
    assert_401(login(id_token(&issuer.key, unverified)).await, "invalid").await;

    // An account with a password is not taken over by an ID token with its email.
    app.register("ada").await;
    let mut takeover = claims(&issuer.url, AUDIENCE, 300);
    takeover["email"] = json!("ada@example.com");
    // Another identity: `user-123` is bound to Grace's account and signs in there.
    takeover["sub"] = json!("user-456");
    assert_401(login(id_token(&issuer.key, takeover)).await, "invalid").await;
}
