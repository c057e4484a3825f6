//! Jobs survive the server: a job killed mid-run by SIGKILL runs again
//! after a restart (its attempts counted), and a scheduled job still runs
//! on time.

use serde_json::{Value, json};

use crate::binary::{chorus, start_logged};
use crate::helpers::eventually;

pub async fn sign_up(client: &reqwest::Client, base: &str) -> String {
    let body = json!({"username": "ada", "email": "ada@example.com", "password": "password-ada"});
    let r = client
        .post(format!("{base}/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    login(client, base).await
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let body = json!({"email": "ada@example.com", "password": "password-ada"});
    let r: Value = client
        .post(format!("{base}/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

async fn job(client: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    client
        .get(format!("{base}/jobs/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_for(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    status: &str,
) -> Value {
    eventually(&format!("job {id} to become {status}"), || async {
        let j = job(client, base, token, id).await;
        (j["status"] == status).then_some(j)
    })
    .await
}

#[tokio::test]
async fn jobs_run_again_after_a_sigkill_and_scheduled_ones_keep_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let (mut server, addr, _) = start_logged(chorus(dir.path()));
    let base = format!("http://{addr}/api/v1");
    let token = sign_up(&client, &base).await;

    let create = |body: Value| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{base}/jobs"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // Long enough that the kill lands while it runs, even when the whole
    // suite shares two cores (at 2 s an attempt once finished first).
    let long = create(json!({"job_type": "delay", "payload": {"seconds": 5, "steps": 5}})).await;
    let due = chrono::Utc::now() + chrono::Duration::seconds(4);
    let later = create(json!({"job_type": "delay", "scheduled_for": due.to_rfc3339()})).await;
    wait_for(&client, &base, &token, &long, "running").await;

    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, addr, _) = start_logged(chorus(dir.path()));
    let base = format!("http://{addr}/api/v1");
    let token = login(&client, &base).await;

    let done = wait_for(&client, &base, &token, &long, "completed").await;
    assert_eq!(
        done["attempts"], 2,
        "the interrupted attempt counts: {done}"
    );
    let events: Value = client
        .get(format!("{base}/jobs/{long}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let retried = events
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "retrying" && e["data"]["reason"] == "restart");
    assert!(retried, "{events}");

    let ran = wait_for(&client, &base, &token, &later, "completed").await;
    let started = chrono::DateTime::parse_from_rfc3339(ran["started_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(started >= due, "not before its time: {ran}");
    assert!(
        started - due < chrono::Duration::seconds(2),
        "on time: {ran}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
