//! Incoming webhooks and the `chorus` binary: a source configured from the
//! environment, an event that survives a SIGKILL and a restart (its replay
//! still refused), and a source without a secret stopping start-up.

use serde_json::{Value, json};

use crate::binary::{chorus, start_logged};
use crate::helpers::eventually;
use crate::jobs_restart::sign_up;
use crate::webhooks_in::{SECRET, sign};

const SECRET_VAR: &str = "CHORUS__WEBHOOKS__SOURCES__STRIPE__SECRET";

async fn events(client: &reqwest::Client, base: &str, token: &str) -> Value {
    let r = client
        .get(format!("{base}/admin/webhooks/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn deliver(client: &reqwest::Client, base: &str, payload: &str) -> u16 {
    let t = chrono::Utc::now().timestamp();
    client
        .post(format!("{base}/webhooks/stripe"))
        .header("stripe-signature", sign(SECRET, t, payload))
        .body(payload.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_received_event_survives_a_sigkill_and_its_replay_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut cmd = chorus(dir.path());
    cmd.env(SECRET_VAR, SECRET);
    let (mut server, addr, _) = start_logged(cmd);
    let base = format!("http://{addr}/api/v1");
    let token = sign_up(&client, &base).await;
    let payload = json!({"id": "evt_durable", "type": "invoice.paid"}).to_string();
    assert_eq!(deliver(&client, &base, &payload).await, 200);
    eventually("the event to be processed", || async {
        (events(&client, &base, &token).await["items"][0]["status"] == "processed").then_some(())
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();

    let mut cmd = chorus(dir.path());
    cmd.env(SECRET_VAR, SECRET);
    let (mut server, addr, _) = start_logged(cmd);
    let base = format!("http://{addr}/api/v1");
    let login = json!({"email": "ada@example.com", "password": "password-ada"});
    let token: Value = client
        .post(format!("{base}/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let page = events(&client, &base, token).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["event_id"], "evt_durable");
    assert_eq!(page["items"][0]["status"], "processed");
    assert_eq!(
        deliver(&client, &base, &payload).await,
        409,
        "the id is still known"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_source_without_a_secret_or_with_one_in_a_file_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = chorus(dir.path())
        .env(
            "CHORUS__WEBHOOKS__SOURCES__STRIPE__EVENTS",
            "[invoice.paid]",
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("webhooks.sources.stripe.secret"), "{said}");
    assert!(said.contains(SECRET_VAR), "{said}");

    let file = dir.path().join("chorus.toml");
    std::fs::write(
        &file,
        "[webhooks.sources.stripe]\nsecret = \"whsec_in_a_file\"\n",
    )
    .unwrap();
    let out = chorus(dir.path())
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("webhooks.sources.stripe.secret"), "{said}");
    assert!(said.contains("environment only"), "{said}");
    assert!(!said.contains("whsec_in_a_file"), "{said}");
}

#[test]
fn config_print_redacts_a_source_secret() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args(["config", "print"])
        .env(SECRET_VAR, "whsec_never_printed")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("never_printed"), "{printed}");
    let config: toml::Value = toml::from_str(&printed).unwrap();
    let stripe = &config["webhooks"]["sources"]["stripe"];
    assert_eq!(stripe["secret"].as_str(), Some("[redacted]"));
}
