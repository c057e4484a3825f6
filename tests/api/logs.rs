//! Secrets never reach the logs, even at trace level.

use serde_json::{Value, json};

use crate::binary::{chorus, sigterm, start_logged, wait_exit};

const JWT_SECRET: &str = "jwt-secret-under-test-0123456789abcdef";
const PASSWORD: &str = "correct-horse-battery-staple";
const NEW_PASSWORD: &str = "another-horse-entirely-42";

#[tokio::test]
async fn a_full_auth_flow_at_trace_level_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chorus(dir.path());
    cmd.env("CHORUS__LOG__LEVEL", "trace")
        .env("CHORUS__AUTH__JWT_SECRET", JWT_SECRET);
    let (mut child, addr, lines) = start_logged(cmd);
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}/api/v1{p}");

    let r = client
        .post(url("/auth/register"))
        .json(&json!({"username": "ada", "email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login: Value = client
        .post(url("/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_refresh = login["refresh_token"].as_str().unwrap().to_string();
    let refreshed: Value = client
        .post(url("/auth/refresh"))
        .json(&json!({"refresh_token": first_refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    let refresh = refreshed["refresh_token"].as_str().unwrap().to_string();
    let key: Value = client
        .post(url("/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = key["key"].as_str().unwrap().to_string();
    let me = client
        .get(url("/auth/me"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let r = client
        .put(url("/auth/profile/password"))
        .bearer_auth(&access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // A failed login is logged too: its password must not be.
    client
        .post(url("/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": "wrong-password-xyz"}))
        .send()
        .await
        .unwrap();

    sigterm(&child);
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    let log = lines.lock().unwrap().join("\n");
    assert!(
        log.lines().count() > 50,
        "trace logging produced too little to judge:\n{log}"
    );
    let secrets = [
        ("password", PASSWORD),
        ("new password", NEW_PASSWORD),
        ("wrong password", "wrong-password-xyz"),
        ("JWT secret", JWT_SECRET),
        ("access token", access.as_str()),
        ("first refresh token", first_refresh.as_str()),
        ("refresh token", refresh.as_str()),
        ("API key", api_key.as_str()),
    ];
    for (what, secret) in secrets {
        // Tokens are also checked by their signature/secret part alone.
        let tail = secret.rsplit(['.', '_']).next().unwrap_or(secret);
        assert!(!log.contains(secret), "the {what} is in the logs");
        assert!(
            tail.len() < 16 || !log.contains(tail),
            "part of the {what} is in the logs"
        );
    }
}
